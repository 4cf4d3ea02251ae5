package cabinet

import (
	"fmt"
	"html/template"
	"math"
	"strings"
)

// barChart is a small bar chart rendered on the server as inline SVG: no
// JavaScript library, readable by screen readers (role="img", a <title>
// per bar that browsers also show as a tooltip), printable.
type barChart struct {
	ID     string   // element id
	Title  string   // accessible name
	Labels []string // one per bar
	Values []float64
	Tips   []string // tooltip per bar; "" = label: value
	Unit   string   // after values on the axis, e.g. "ч"
	// Counts keeps the axis on whole numbers (no "0.5 visits").
	Counts bool
	// Horizontal draws one row per bar with the label on the left (long
	// labels such as names); otherwise columns with labels below.
	Horizontal bool
}

const (
	chartW      = 480
	chartH      = 220
	chartPad    = 8
	chartAxisW  = 40  // room for the value axis labels
	chartLabelH = 34  // room for labels under columns
	chartNameW  = 150 // room for labels left of rows
	chartRowH   = 22
)

// niceMax rounds a chart's top value up to 1, 2 or 5 × 10^k, so the axis
// ticks are round numbers.
func niceMax(v float64) float64 {
	if v <= 0 {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 2, 5, 10} {
		if v <= m*p {
			return m * p
		}
	}
	return 10 * p
}

func chartNum(v float64) string {
	if v == math.Trunc(v) {
		return fmt.Sprintf("%.0f", v)
	}
	return strings.TrimRight(strings.TrimRight(fmt.Sprintf("%.1f", v), "0"), ".")
}

func svgEsc(s string) string { return template.HTMLEscapeString(s) }

// SVG renders the chart.
func (c barChart) SVG() template.HTML {
	if c.Horizontal {
		return c.rows()
	}
	return c.columns()
}

func (c barChart) tip(i int) string {
	if i < len(c.Tips) && c.Tips[i] != "" {
		return c.Tips[i]
	}
	return c.Labels[i] + ": " + chartNum(c.Values[i]) + c.unit()
}

func (c barChart) unit() string {
	if c.Unit == "" {
		return ""
	}
	return " " + c.Unit
}

func (c barChart) max() float64 {
	m := 0.0
	for _, v := range c.Values {
		m = math.Max(m, v)
	}
	if c.Counts {
		m = math.Max(m, 2)
	}
	return niceMax(m)
}

func (c barChart) open(b *strings.Builder, h int) {
	fmt.Fprintf(b, `<svg id="%s" class="barchart" viewBox="0 0 %d %d" role="img" aria-label="%s" xmlns="http://www.w3.org/2000/svg">`,
		svgEsc(c.ID), chartW, h, svgEsc(c.Title))
	fmt.Fprintf(b, `<title>%s</title>`, svgEsc(c.Title))
}

func (c barChart) columns() template.HTML {
	var b strings.Builder
	c.open(&b, chartH)
	top, bottom := float64(chartPad), float64(chartH-chartLabelH)
	left, right := float64(chartAxisW), float64(chartW-chartPad)
	max := c.max()
	// Axis with three ticks: 0, half, max.
	for _, f := range []float64{0, 0.5, 1} {
		y := bottom - f*(bottom-top)
		fmt.Fprintf(&b, `<line class="grid" x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#d9dde3"/>`, left, y, right, y)
		fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" text-anchor="end">%s</text>`, left-4, y+4, svgEsc(chartNum(f*max)+c.unit()))
	}
	n := len(c.Values)
	if n > 0 {
		slot := (right - left) / float64(n)
		bw := math.Max(1, slot*0.75)
		// Label every k-th column so the labels do not overlap.
		k := int(math.Ceil(float64(n) * 42 / (right - left)))
		if k < 1 {
			k = 1
		}
		for i, v := range c.Values {
			x := left + float64(i)*slot + (slot-bw)/2
			h := v / max * (bottom - top)
			fmt.Fprintf(&b, `<rect class="bar" x="%.1f" y="%.1f" width="%.1f" height="%.1f"><title>%s</title></rect>`,
				x, bottom-h, bw, h, svgEsc(c.tip(i)))
			if i%k == 0 {
				fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" text-anchor="middle">%s</text>`, x+bw/2, bottom+14, svgEsc(c.Labels[i]))
			}
		}
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}

func (c barChart) rows() template.HTML {
	var b strings.Builder
	n := len(c.Values)
	h := chartPad*2 + n*chartRowH + 16
	c.open(&b, h)
	left, right := float64(chartNameW), float64(chartW-chartPad-40)
	max := c.max()
	for i, v := range c.Values {
		y := float64(chartPad + i*chartRowH)
		w := v / max * (right - left)
		name := []rune(c.Labels[i])
		if len(name) > 22 {
			name = append(name[:21], '…')
		}
		fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" text-anchor="end">%s</text>`, left-6, y+14, svgEsc(string(name)))
		fmt.Fprintf(&b, `<rect class="bar" x="%.1f" y="%.1f" width="%.1f" height="%d"><title>%s</title></rect>`,
			left, y+3, w, chartRowH-6, svgEsc(c.tip(i)))
		fmt.Fprintf(&b, `<text x="%.1f" y="%.1f">%s</text>`, left+w+4, y+14, svgEsc(chartNum(v)))
	}
	axisY := float64(chartPad + n*chartRowH)
	fmt.Fprintf(&b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#d9dde3"/>`, left, axisY, right, axisY)
	fmt.Fprintf(&b, `<text x="%.1f" y="%.1f">0</text><text x="%.1f" y="%.1f" text-anchor="end">%s</text>`,
		left, axisY+14, right, axisY+14, svgEsc(chartNum(max)+c.unit()))
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}
