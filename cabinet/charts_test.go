package cabinet

import (
	"strings"
	"testing"
)

func TestNiceMax(t *testing.T) {
	for _, c := range []struct{ in, want float64 }{{0, 1}, {0.3, 0.5}, {1, 1}, {3, 5}, {7, 10}, {11, 20}, {150, 200}, {1000, 1000}} {
		if got := niceMax(c.in); got != c.want {
			t.Errorf("niceMax(%v) = %v, want %v", c.in, got, c.want)
		}
	}
}

func TestBarChartSVG(t *testing.T) {
	c := barChart{ID: "c1", Title: "Визиты <по дням>", Labels: []string{"01.03", "02.03", "03.03"}, Values: []float64{2, 0, 7},
		Tips: []string{"", "", "03.03: 7 визитов"}}
	svg := string(c.SVG())
	for _, want := range []string{`id="c1"`, `role="img"`, `aria-label="Визиты &lt;по дням&gt;"`, "<title>01.03: 2</title>",
		"<title>03.03: 7 визитов</title>", `>10</text>`, `>5</text>`} {
		if !strings.Contains(svg, want) {
			t.Errorf("column chart lacks %q:\n%s", want, svg)
		}
	}
	if n := strings.Count(svg, `<rect class="bar"`); n != 3 {
		t.Errorf("%d bars, want 3", n)
	}
	// The tallest bar reaches 70% of the axis (7 of 10).
	if !strings.Contains(svg, `height="124.6"`) {
		t.Errorf("bar heights not to scale:\n%s", svg)
	}
	h := barChart{ID: "c2", Title: "Часы", Labels: []string{"Очень-очень длинное имя работника"}, Values: []float64{1.5}, Unit: "ч", Horizontal: true}
	svg = string(h.SVG())
	if !strings.Contains(svg, "Очень-очень длинное и…") || !strings.Contains(svg, "<title>Очень-очень длинное имя работника: 1.5 ч</title>") {
		t.Errorf("row chart:\n%s", svg)
	}
	if svg := string((barChart{ID: "e", Title: "пусто"}).SVG()); !strings.Contains(svg, "</svg>") || strings.Contains(svg, "NaN") {
		t.Errorf("empty chart: %s", svg)
	}
}
