package main

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"image"
	"image/png"
	"os"
	"path/filepath"

	"golang.org/x/image/draw"
)

// AppID names the icon files, as FyneApp.toml and the desktop entry do.
const appID = "io.vigilops.vigil"

// The sizes desktops look for in the hicolor theme, and those a Windows
// icon carries (Explorer's views, the taskbar, the Start menu).
var (
	hicolorSizes = []int{16, 22, 24, 32, 48, 64, 128, 256, 512}
	icoSizes     = []int{16, 24, 32, 48, 64, 128, 256}
)

func loadSquare(src string, min int) (image.Image, error) {
	f, err := os.Open(src)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		return nil, fmt.Errorf("decode %s: %w", src, err)
	}
	b := img.Bounds()
	if b.Dx() != b.Dy() || b.Dx() < min {
		return nil, fmt.Errorf("%s is %dx%d; expected a square icon of at least %d pixels", src, b.Dx(), b.Dy(), min)
	}
	return img, nil
}

// scaled encodes img at size x size as PNG. Catmull-Rom keeps the edges of
// a downscaled icon sharp; the source is never scaled up.
func scaled(img image.Image, size int) ([]byte, error) {
	dst := image.NewNRGBA(image.Rect(0, 0, size, size))
	draw.CatmullRom.Scale(dst, dst.Bounds(), img, img.Bounds(), draw.Src, nil)
	var buf bytes.Buffer
	enc := png.Encoder{CompressionLevel: png.BestCompression}
	if err := enc.Encode(&buf, dst); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// writeHicolor writes out/NxN/apps/<appID>.png for every hicolor size.
func writeHicolor(src, out string) error {
	img, err := loadSquare(src, hicolorSizes[len(hicolorSizes)-1])
	if err != nil {
		return err
	}
	for _, n := range hicolorSizes {
		data, err := scaled(img, n)
		if err != nil {
			return fmt.Errorf("scale to %d: %w", n, err)
		}
		dir := filepath.Join(out, fmt.Sprintf("%dx%d", n, n), "apps")
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(dir, appID+".png"), data, 0o644); err != nil {
			return err
		}
	}
	return nil
}

// writeICO writes a Windows icon whose images are PNGs, which Windows reads
// since Vista and which keep the alpha channel at every size.
func writeICO(src, out string) error {
	img, err := loadSquare(src, icoSizes[len(icoSizes)-1])
	if err != nil {
		return err
	}
	images := make([][]byte, len(icoSizes))
	for i, n := range icoSizes {
		if images[i], err = scaled(img, n); err != nil {
			return fmt.Errorf("scale to %d: %w", n, err)
		}
	}
	var buf bytes.Buffer
	le := binary.LittleEndian
	// ICONDIR: reserved, type 1 (icon), count.
	buf.Write(le.AppendUint16(le.AppendUint16(le.AppendUint16(nil, 0), 1), uint16(len(images))))
	offset := 6 + 16*len(images)
	for i, n := range icoSizes {
		// ICONDIRENTRY: width and height (0 means 256), colours, reserved,
		// planes, bits per pixel, size of the image, its offset.
		dim := byte(n)
		if n >= 256 {
			dim = 0
		}
		e := []byte{dim, dim, 0, 0}
		e = le.AppendUint16(e, 1)
		e = le.AppendUint16(e, 32)
		e = le.AppendUint32(e, uint32(len(images[i])))
		e = le.AppendUint32(e, uint32(offset))
		buf.Write(e)
		offset += len(images[i])
	}
	for _, data := range images {
		buf.Write(data)
	}
	if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
		return err
	}
	return os.WriteFile(out, buf.Bytes(), 0o644)
}
