//! The report's picture: calls per hour by category as stacked bars, each signal and the
//! containment marked, drawn into a pixel buffer and encoded as PNG. The font is bundled so
//! that no system font is needed.

use std::sync::OnceLock;

use plotters::prelude::*;
use plotters::style::{FontStyle, register_font};

use crate::domain::trail::activity::Activity;
use crate::domain::trail::classify::Category;

pub const WIDTH: u32 = 1200;
pub const HEIGHT: u32 = 600;

const FONT: &[u8] = include_bytes!("../../../assets/fonts/DejaVuSans.ttf");

#[derive(Debug, thiserror::Error)]
#[error("could not draw the activity chart: {0}")]
pub struct ChartError(String);

fn fail(e: impl std::fmt::Display) -> ChartError {
    ChartError(e.to_string())
}

/// One color per `Category::ALL` entry: the worst categories in the warmest colors.
const COLORS: [RGBColor; 13] = [
    RGBColor(178, 24, 43),
    RGBColor(214, 96, 77),
    RGBColor(244, 165, 130),
    RGBColor(118, 42, 131),
    RGBColor(197, 27, 125),
    RGBColor(230, 171, 2),
    RGBColor(166, 97, 26),
    RGBColor(84, 39, 143),
    RGBColor(1, 102, 94),
    RGBColor(33, 102, 172),
    RGBColor(146, 197, 222),
    RGBColor(120, 120, 120),
    RGBColor(200, 200, 200),
];

/// Each signal's arrival: a color no category uses.
const SIGNAL: RGBColor = RGBColor(0, 150, 100);

fn font_ready() -> Result<(), ChartError> {
    static READY: OnceLock<bool> = OnceLock::new();
    let ok = *READY.get_or_init(|| register_font("sans-serif", FontStyle::Normal, FONT).is_ok());
    ok.then_some(())
        .ok_or_else(|| fail("the bundled font did not load"))
}

/// The chart as PNG bytes, `WIDTH` × `HEIGHT`.
pub fn activity_png(a: &Activity, title: &str) -> Result<Vec<u8>, ChartError> {
    font_ready()?;
    let mut rgb = vec![0u8; (WIDTH * HEIGHT * 3) as usize];
    draw(&mut rgb, a, title)?;
    let mut out = vec![];
    let mut encoder = png::Encoder::new(&mut out, WIDTH, HEIGHT);
    encoder.set_color(png::ColorType::Rgb);
    encoder.set_depth(png::BitDepth::Eight);
    let mut writer = encoder.write_header().map_err(fail)?;
    writer.write_image_data(&rgb).map_err(fail)?;
    writer.finish().map_err(fail)?;
    Ok(out)
}

fn draw(rgb: &mut [u8], a: &Activity, title: &str) -> Result<(), ChartError> {
    let root = BitMapBackend::with_buffer(rgb, (WIDTH, HEIGHT)).into_drawing_area();
    root.fill(&WHITE).map_err(fail)?;
    let hours = a.counts.len().max(1) as f64;
    let top = (f64::from(a.busiest_hour()) * 1.15).ceil().max(1.0);
    let label = |x: &f64| {
        let t = a.start + chrono::TimeDelta::minutes((x * 60.0) as i64);
        t.format("%m-%d %H:%M").to_string()
    };
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 22))
        .margin(16)
        .margin_right(48)
        .x_label_area_size(44)
        .y_label_area_size(56)
        .build_cartesian_2d(0f64..hours, 0f64..top)
        .map_err(fail)?;
    chart
        .configure_mesh()
        .disable_x_mesh()
        .max_light_lines(0)
        .x_labels(8)
        .x_label_formatter(&label)
        .y_label_formatter(&|y| format!("{y:.0}"))
        .x_desc("hour (UTC)")
        .y_desc("calls")
        .label_style(("sans-serif", 14))
        .draw()
        .map_err(fail)?;
    for (i, category) in Category::ALL.iter().enumerate() {
        if a.counts.iter().all(|c| c[i] == 0) {
            continue;
        }
        let color = COLORS[i];
        let bars = a
            .counts
            .iter()
            .enumerate()
            .filter(|(_, c)| c[i] > 0)
            .map(|(h, c)| {
                let below: u32 = c[..i].iter().sum();
                let (x, y) = (h as f64, f64::from(below));
                Rectangle::new(
                    [(x + 0.1, y), (x + 0.9, y + f64::from(c[i]))],
                    color.filled(),
                )
            });
        chart
            .draw_series(bars)
            .map_err(fail)?
            .label(category.as_str())
            .legend(move |(x, y)| Rectangle::new([(x, y - 6), (x + 12, y + 6)], color.filled()));
    }
    if !a.signals.is_empty() {
        let marks = a
            .signals
            .iter()
            .map(|x| PathElement::new(vec![(*x, 0.0), (*x, top)], SIGNAL.stroke_width(2)));
        chart
            .draw_series(marks)
            .map_err(fail)?
            .label("signal")
            .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 12, y)], SIGNAL.stroke_width(2)));
    }
    if let Some(x) = a.contained {
        let line = PathElement::new(vec![(x, 0.0), (x, top)], RED.stroke_width(3));
        chart
            .draw_series(std::iter::once(line))
            .map_err(fail)?
            .label("contained")
            .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 12, y)], RED.stroke_width(3)));
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperRight)
        .label_font(("sans-serif", 14))
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .draw()
        .map_err(fail)?;
    root.present().map_err(fail)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{TimeZone, Utc};

    fn activity() -> Activity {
        let mut counts = vec![[0u32; 13]; 30];
        counts[2][10] = 40;
        counts[3][0] = 3;
        counts[3][11] = 12;
        counts[5][5] = 7;
        Activity {
            start: Utc.with_ymd_and_hms(2026, 11, 22, 8, 0, 0).unwrap(),
            counts,
            left_out: 0,
            contained: Some(4.5),
            signals: vec![1.25],
        }
    }

    fn decode(bytes: &[u8]) -> (png::OutputInfo, Vec<u8>) {
        let mut reader = png::Decoder::new(std::io::Cursor::new(bytes))
            .read_info()
            .unwrap();
        let mut buf = vec![0; reader.output_buffer_size().unwrap()];
        let info = reader.next_frame(&mut buf).unwrap();
        buf.truncate(info.buffer_size());
        (info, buf)
    }

    #[test]
    fn the_chart_is_a_png_of_the_promised_size_with_bars_and_the_containment_line() {
        let bytes = activity_png(&activity(), "KL-1 calls per hour").unwrap();
        let (info, pixels) = decode(&bytes);

        assert_eq!((info.width, info.height), (WIDTH, HEIGHT));
        let has = |rgb: RGBColor| pixels.chunks(3).any(|p| p == [rgb.0, rgb.1, rgb.2]);
        assert!(has(RED), "the containment line is drawn");
        assert!(has(SIGNAL), "the signal is marked");
        assert!(has(COLORS[10]), "the discovery bar is drawn");
        assert!(has(COLORS[0]), "the persistence bar is drawn");
        assert!(!has(COLORS[1]), "no bar for a category without calls");
    }

    #[test]
    fn an_empty_history_still_draws() {
        let empty = Activity {
            counts: vec![],
            contained: None,
            signals: vec![],
            ..activity()
        };
        let (info, _) = decode(&activity_png(&empty, "nothing").unwrap());
        assert_eq!(info.width, WIDTH);
    }
}
