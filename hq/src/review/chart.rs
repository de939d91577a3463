//! A small server-rendered SVG line chart (no script): rates per week for the quality page.

use chrono::NaiveDate;
use std::fmt::Write;

/// One line: its legend and (week, value 0..=1) points.
pub struct Series {
    pub name: String,
    pub points: Vec<(NaiveDate, f64)>,
}

/// Colours with at least 4.5:1 contrast on white, told apart also by dash pattern.
const STYLES: &[(&str, &str)] = &[
    ("#1f4e9c", ""),
    ("#a12a16", "6 3"),
    ("#176b35", "2 3"),
    ("#6b2f8f", "8 3 2 3"),
];

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// An axis value as a percentage: whole when it is, else one decimal (2.5 %, not 2 %).
fn percent(v: f64) -> String {
    let p = (v * 1000.0).round() / 10.0;
    if p.fract() == 0.0 {
        format!("{p:.0}")
    } else {
        format!("{p:.1}")
    }
}

/// The chart as an `<svg>` element; `title` is its accessible name. Values are shares (0..=1)
/// drawn as percentages on a 0–100 % axis.
pub fn rates_chart(title: &str, series: &[Series]) -> String {
    let (w, h) = (640.0, 240.0);
    let (left, right, top, bottom) = (48.0, 16.0, 16.0, 56.0);
    let mut weeks: Vec<NaiveDate> = series
        .iter()
        .flat_map(|s| s.points.iter().map(|p| p.0))
        .collect();
    weeks.sort();
    weeks.dedup();
    let max = series
        .iter()
        .flat_map(|s| s.points.iter().map(|p| p.1))
        .fold(0.0f64, f64::max)
        .clamp(0.05, 1.0);
    // The axis top: the next 10 % step above the largest value.
    let top_value = ((max * 10.0).ceil() / 10.0).min(1.0);
    let x = |d: NaiveDate| -> f64 {
        let i = weeks.iter().position(|w| *w == d).unwrap_or(0) as f64;
        let n = (weeks.len().max(2) - 1) as f64;
        left + i * (w - left - right) / n
    };
    let y =
        |v: f64| -> f64 { top + (1.0 - v.clamp(0.0, top_value) / top_value) * (h - top - bottom) };
    let mut out = String::new();
    let _ = write!(
        out,
        r#"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {w} {h}" width="100%" role="img" aria-labelledby="chart-title"><title id="chart-title">{}</title>"#,
        esc(title)
    );
    for i in 0..=4 {
        let v = top_value * f64::from(i) / 4.0;
        let _ = write!(
            out,
            r##"<line x1="{left}" x2="{}" y1="{y:.1}" y2="{y:.1}" stroke="#c8c8c8"/><text x="{}" y="{:.1}" font-size="11" text-anchor="end" fill="#333">{} %</text>"##,
            w - right,
            left - 4.0,
            y(v) + 4.0,
            percent(v),
            y = y(v)
        );
    }
    for d in &weeks {
        let _ = write!(
            out,
            r##"<text x="{:.1}" y="{}" font-size="11" text-anchor="middle" fill="#333">{}</text>"##,
            x(*d),
            h - bottom + 16.0,
            d.format("%d/%m")
        );
    }
    let mut legend_x = left;
    for (i, s) in series.iter().enumerate() {
        let (colour, dash) = STYLES[i % STYLES.len()];
        let pts: Vec<String> = s
            .points
            .iter()
            .map(|(d, v)| format!("{:.1},{:.1}", x(*d), y(*v)))
            .collect();
        let _ = write!(
            out,
            r#"<polyline fill="none" stroke="{colour}" stroke-width="2" stroke-dasharray="{dash}" points="{}"/>"#,
            pts.join(" ")
        );
        for (d, v) in &s.points {
            let _ = write!(
                out,
                r#"<circle cx="{:.1}" cy="{:.1}" r="3" fill="{colour}"><title>{} {}: {:.1} %</title></circle>"#,
                x(*d),
                y(*v),
                esc(&s.name),
                d.format("%d/%m/%Y"),
                v * 100.0
            );
        }
        let lx = legend_x;
        // Each legend entry after the previous one's text (about 7 px per character at 12 px).
        legend_x += 40.0 + 7.0 * s.name.chars().count() as f64;
        let _ = write!(
            out,
            r##"<line x1="{lx}" x2="{}" y1="{}" y2="{}" stroke="{colour}" stroke-width="2" stroke-dasharray="{dash}"/><text x="{}" y="{}" font-size="12" fill="#222">{}</text>"##,
            lx + 24.0,
            h - 12.0,
            h - 12.0,
            lx + 28.0,
            h - 8.0,
            esc(&s.name)
        );
    }
    out.push_str("</svg>");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_chart_names_itself_and_escapes_its_text() {
        let d = |day| NaiveDate::from_ymd_opt(2026, 11, day).expect("date");
        let svg = rates_chart(
            "Tỉ lệ <lỗi>",
            &[Series {
                name: "Ảnh & vân tay".into(),
                points: vec![(d(16), 0.1), (d(23), 0.25)],
            }],
        );
        assert!(svg.starts_with("<svg"));
        assert!(svg.contains("<title id=\"chart-title\">Tỉ lệ &lt;lỗi&gt;</title>"));
        assert!(svg.contains("Ảnh &amp; vân tay"));
        assert_eq!(svg.matches("<circle").count(), 2);
        assert!(svg.contains("16/11") && svg.contains("23/11"));
        // The axis tops at 30 % in quarters: 7.5 % is not rounded to 8 %.
        assert!(svg.contains(">7.5 %<") && svg.contains(">30 %<"), "{svg}");
    }
}
