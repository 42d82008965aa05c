package nintex

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"time"
)

// sqlClient is a connection to the simulated SQL Server, as a K2 server or
// sqlcmd holds one.
type sqlClient struct {
	addr string
	conn net.Conn
	r    *bufio.Reader
	app  string
	host string
}

// dialSQL connects to the instance at addr.
func dialSQL(ctx context.Context, addr, app, host string) (*sqlClient, error) {
	d := net.Dialer{Timeout: 5 * time.Second}
	c, err := d.DialContext(ctx, "tcp4", addr)
	if err != nil {
		return nil, fmt.Errorf("TCP Provider: no connection could be made to the SQL Server instance at %s (simulated): %v; is its SQL Server service running?", addr, err)
	}
	return &sqlClient{addr: addr, conn: c, r: bufio.NewReader(c), app: app, host: host}, nil
}

func (c *sqlClient) Close() error { return c.conn.Close() }

// errSQL is an error SQL Server returned, as opposed to a lost connection.
type errSQL struct{ msg string }

func (e *errSQL) Error() string { return e.msg }

// exec sends one batch to database db and returns the response. An error
// SQL Server reports comes back as *errSQL, with the response.
func (c *sqlClient) exec(db string, batch ...string) (response, error) {
	var resp response
	b, err := json.Marshal(request{App: c.app, Host: c.host, Database: db, Batch: batch})
	if err != nil {
		return resp, err
	}
	c.conn.SetDeadline(time.Now().Add(2 * time.Minute))
	if _, err := c.conn.Write(append(b, '\n')); err != nil {
		return resp, fmt.Errorf("connection to the SQL Server at %s lost: %w", c.addr, err)
	}
	line, err := readLine(c.r, 16<<20)
	if err != nil {
		return resp, fmt.Errorf("connection to the SQL Server at %s lost: %w", c.addr, err)
	}
	if err := json.Unmarshal(line, &resp); err != nil {
		return resp, fmt.Errorf("the SQL Server at %s answered something that is not a response: %w", c.addr, err)
	}
	if resp.Error != "" {
		return resp, &errSQL{resp.Error}
	}
	return resp, nil
}

// databases reads sys.databases: name -> row by column.
func (c *sqlClient) databases() ([]map[string]string, error) {
	r, err := c.exec("master", "SELECT name, state_desc FROM sys.databases")
	if err != nil {
		return nil, err
	}
	var out []map[string]string
	for _, row := range r.Rows {
		m := map[string]string{}
		for i, col := range r.Columns {
			if i < len(row) {
				m[col] = row[i]
			}
		}
		out = append(out, m)
	}
	if len(out) == 0 {
		return nil, errors.New("the instance lists no databases")
	}
	return out, nil
}
