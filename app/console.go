package app

// consoleCommand says whether args (the command line after the program's
// name) run a command that talks to a terminal, rather than the GUI: the
// console's window opens for no command, for flags alone (vigil --data DIR)
// and for demo. On Windows, where vigil.exe is linked as a GUI program,
// attachConsole uses it to decide whether to borrow the console of the
// Command Prompt or PowerShell that started it.
func consoleCommand(args []string) bool {
	if len(args) == 0 {
		return false
	}
	switch args[0] {
	case "-h", "-help", "--help":
		return true
	case "demo":
		return false
	}
	return args[0] != "" && args[0][0] != '-'
}

// readsAnswers says whether the command in args may ask the operator
// questions on its standard input (procedure run and resume, action's
// confirmations).
func readsAnswers(args []string) bool {
	return len(args) > 0 && (args[0] == "procedure" || args[0] == "action")
}
