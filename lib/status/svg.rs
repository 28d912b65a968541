//! Inline SVG charts drawn with presentation attributes only (no `style`), so the page's
//! `default-src 'none'` CSP admits them.

use std::fmt::Write as _;

const WIDTH: f64 = 720.0;
const HEIGHT: f64 = 140.0;
const PAD: f64 = 28.0;

/// One series of a chart: a label, a colour and a value per minute.
pub(super) struct Line<'a> {
    pub(super) label: &'a str,
    pub(super) colour: &'a str,
    pub(super) values: &'a [f64],
}

/// A line chart of `lines` over the same minutes, with its maximum on the y axis and `unit`
/// after the numbers; `title` is its accessible name.
pub(super) fn chart(title: &str, unit: &str, lines: &[Line<'_>]) -> String {
    let points = lines.iter().map(|line| line.values.len()).max().unwrap_or(0);
    let max = lines.iter().flat_map(|line| line.values.iter().copied()).fold(0.0_f64, f64::max);
    let top = if max > 0.0 { max * 1.1 } else { 1.0 };
    let x = |i: usize| PAD + (WIDTH - 2.0 * PAD) * i as f64 / (points.max(2) - 1) as f64;
    let y = |v: f64| HEIGHT - PAD - (HEIGHT - 2.0 * PAD) * v / top;
    let mut svg = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" role=\"img\" width=\"{WIDTH}\" height=\"{HEIGHT}\" \
         viewBox=\"0 0 {WIDTH} {HEIGHT}\"><title>{}</title>\
         <rect x=\"0\" y=\"0\" width=\"{WIDTH}\" height=\"{HEIGHT}\" fill=\"#fafafa\" stroke=\"#ddd\"/>\
         <line x1=\"{PAD}\" y1=\"{b}\" x2=\"{r}\" y2=\"{b}\" stroke=\"#999\"/>\
         <text x=\"4\" y=\"{t}\" font-size=\"11\" font-family=\"sans-serif\" fill=\"#555\">{} {}</text>\
         <text x=\"4\" y=\"{bt}\" font-size=\"11\" font-family=\"sans-serif\" fill=\"#555\">0</text>",
        escape(title),
        number(top),
        escape(unit),
        b = HEIGHT - PAD,
        r = WIDTH - PAD,
        t = PAD - 8.0,
        bt = HEIGHT - PAD + 14.0,
    );
    for (n, line) in lines.iter().enumerate() {
        let path: Vec<String> =
            line.values.iter().enumerate().map(|(i, v)| format!("{:.1},{:.1}", x(i), y(*v))).collect();
        let _ = write!(
            svg,
            "<polyline fill=\"none\" stroke=\"{}\" stroke-width=\"2\" points=\"{}\"/>\
             <text x=\"{:.0}\" y=\"{}\" font-size=\"11\" font-family=\"sans-serif\" fill=\"{}\">{}</text>",
            line.colour,
            path.join(" "),
            WIDTH - PAD - 160.0 + 80.0 * n as f64,
            PAD - 8.0,
            line.colour,
            escape(line.label),
        );
    }
    svg.push_str("</svg>");
    svg
}

/// A short number: integers as such, small values with two decimals.
pub(super) fn number(value: f64) -> String {
    if value >= 100.0 || value.fract() == 0.0 { format!("{value:.0}") } else { format!("{value:.2}") }
}

/// HTML/SVG text escaping.
pub(super) fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}
