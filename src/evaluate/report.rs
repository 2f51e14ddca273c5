//! Evaluation output for people: a per-descriptor TSV table and a self-contained HTML page
//! whose SVG charts are drawn here (no scripts, fonts or images from elsewhere).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::evaluate::{Evaluation, LabelOutcome, CALIBRATION_DEPTH};
use crate::io_guard::write_atomically;

/// Descriptors shown in the "worst descriptors" chart.
const WORST_SHOWN: usize = 20;
/// Descriptors need at least this test support to be ranked among the worst.
const WORST_MIN_SUPPORT: u64 = 2;
/// Points kept on the precision-recall curve.
const CURVE_POINTS: usize = 400;

/// The per-descriptor table: one row per descriptor known to the model or seen in the test
/// corpus, most supported first.
pub fn per_label_tsv(evaluation: &Evaluation) -> String {
    let mut out = String::from(
        "descriptor\tsupport\ttp\tfp\tfn\tprecision\trecall\tf1\tthreshold\ttrain_docs\n",
    );
    for o in sorted_by_support(&evaluation.labels) {
        let _ = writeln!(
            out,
            "{}\t{}\t{}\t{}\t{}\t{:.4}\t{:.4}\t{:.4}\t{}\t{}",
            o.descriptor.replace(['\t', '\n'], " "),
            o.support,
            o.true_positives,
            o.false_positives,
            o.false_negatives,
            o.precision(),
            o.recall(),
            o.f1(),
            o.threshold.map_or("-".to_string(), |t| format!("{t:.4}")),
            o.train_docs.map_or("0".to_string(), |n| n.to_string()),
        );
    }
    out
}

fn sorted_by_support(labels: &[LabelOutcome]) -> Vec<&LabelOutcome> {
    let mut sorted: Vec<&LabelOutcome> = labels.iter().collect();
    sorted.sort_by(|a, b| {
        b.support
            .cmp(&a.support)
            .then(b.train_docs.cmp(&a.train_docs))
            .then(a.descriptor.cmp(&b.descriptor))
    });
    sorted
}

/// Writes `dir/index.html` (creating `dir`) and returns its path.
pub fn write_html_report(dir: &Path, evaluation: &Evaluation, title: &str) -> Result<PathBuf> {
    check_report_dir(dir)?;
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    let path = dir.join("index.html");
    write_atomically(&path, html_report(evaluation, title).as_bytes())?;
    Ok(path)
}

/// Checks that the report can go in `dir`: a directory, or a path not yet taken (it is
/// created). Callers may check before any work; a file there would otherwise be reported only
/// as "File exists" once the work is done.
pub fn check_report_dir(dir: &Path) -> Result<()> {
    match std::fs::metadata(dir) {
        Ok(meta) if !meta.is_dir() => Err(Error::io(
            dir,
            std::io::Error::new(
                std::io::ErrorKind::AlreadyExists,
                "is a file, not a directory: the report is written as DIR/index.html, \
                 so name a new or an existing directory",
            ),
        )),
        _ => Ok(()),
    }
}

/// The whole page as a string.
pub fn html_report(evaluation: &Evaluation, title: &str) -> String {
    let r = &evaluation.report;
    let mut html = String::new();
    let _ = write!(
        html,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
<title>dtag evaluation: {title}</title><style>{STYLE}</style></head><body>\n\
<h1>dtag evaluation</h1><p class=\"sub\">{title}</p>\n",
        title = escape(title)
    );

    html.push_str("<h2>At a glance</h2><table class=\"figures\">");
    let rows = [
        ("documents", r.docs.to_string()),
        (
            "descriptors with test support",
            r.descriptors_with_support.to_string(),
        ),
        (
            "decision rule",
            if r.thresholds == "per-descriptor" {
                format!("tuned per-descriptor thresholds, at most {}", r.limit)
            } else {
                format!("score ≥ {}, at most {}", r.threshold, r.limit)
            },
        ),
        (
            "P@1 · P@3 · P@5",
            format!("{:.3} · {:.3} · {:.3}", r.p_at_1, r.p_at_3, r.p_at_5),
        ),
        (
            "R@1 · R@3 · R@5",
            format!("{:.3} · {:.3} · {:.3}", r.r_at_1, r.r_at_3, r.r_at_5),
        ),
        (
            "nDCG@3 · @5 · @10",
            format!(
                "{:.3} · {:.3} · {:.3}",
                r.ndcg_at_3, r.ndcg_at_5, r.ndcg_at_10
            ),
        ),
        (
            "micro P · R · F1",
            format!(
                "{:.3} · {:.3} · <b>{:.3}</b>",
                r.micro_precision, r.micro_recall, r.micro_f1
            ),
        ),
        (
            "macro P · R · F1",
            format!(
                "{:.3} · {:.3} · <b>{:.3}</b> (seen in training: {:.3})",
                r.macro_precision, r.macro_recall, r.macro_f1, r.macro_f1_seen
            ),
        ),
        (
            "document-average P · R · F1",
            format!(
                "{:.3} · {:.3} · {:.3}",
                r.doc_precision, r.doc_recall, r.doc_f1
            ),
        ),
        (
            "support-weighted P · R · F1",
            format!(
                "{:.3} · {:.3} · {:.3}",
                r.weighted_precision, r.weighted_recall, r.weighted_f1
            ),
        ),
        (
            "TP · FP · FN",
            format!(
                "{} · {} · {}",
                r.true_positives, r.false_positives, r.false_negatives
            ),
        ),
        (
            "unseen in training",
            format!(
                "{} descriptors, {} assignments (counted as misses)",
                r.unseen_descriptors, r.unseen_assignments
            ),
        ),
        ("expected calibration error", format!("{:.4}", r.ece)),
    ];
    for (k, v) in rows {
        let _ = write!(html, "<tr><th>{}</th><td>{v}</td></tr>", escape(k));
    }
    html.push_str("</table>\n<div class=\"charts\">");
    html.push_str(&figure(
        "Micro precision–recall",
        &precision_recall_chart(evaluation),
        &format!(
            "One global cut-off swept over the scores of each document's top {CALIBRATION_DEPTH} \
descriptors; the dot is the evaluated decision rule."
        ),
    ));
    html.push_str(&figure(
        "F1 against descriptor frequency",
        &frequency_chart(&evaluation.labels),
        "One dot per descriptor with test support: training documents (log scale) against \
test F1. Unseen descriptors are left out.",
    ));
    html.push_str(&figure(
        "Calibration",
        &calibration_chart(evaluation),
        &format!(
            "Mean score against the fraction correct, per score bin of the top \
{CALIBRATION_DEPTH} descriptors of each document; dot area grows with the bin's count. \
On the diagonal, a score of 0.7 is right 70% of the time."
        ),
    ));
    html.push_str(&figure(
        "Worst descriptors",
        &worst_chart(&evaluation.labels),
        &format!("Lowest test F1 among descriptors with support ≥ {WORST_MIN_SUPPORT}."),
    ));
    html.push_str("</div>\n");

    html.push_str("<h2>Reliability</h2><table><tr><th>scores</th><th>count</th><th>mean score</th><th>fraction correct</th></tr>");
    for b in &r.reliability {
        let _ = write!(
            html,
            "<tr><td>{:.1}–{:.1}</td><td>{}</td><td>{:.3}</td><td>{:.3}</td></tr>",
            b.lower, b.upper, b.count, b.mean_score, b.fraction_correct
        );
    }
    html.push_str("</table>\n");

    html.push_str("<h2>Descriptors</h2><table><tr><th>descriptor</th><th>train docs</th><th>support</th><th>TP</th><th>FP</th><th>FN</th><th>P</th><th>R</th><th>F1</th><th>threshold</th></tr>");
    for o in sorted_by_support(&evaluation.labels) {
        if o.support == 0 && o.true_positives + o.false_positives == 0 {
            continue;
        }
        let _ = write!(
            html,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{:.3}</td><td>{:.3}</td><td>{:.3}</td><td>{}</td></tr>",
            escape(&o.descriptor),
            o.train_docs.map_or("unseen".to_string(), |n| n.to_string()),
            o.support,
            o.true_positives,
            o.false_positives,
            o.false_negatives,
            o.precision(),
            o.recall(),
            o.f1(),
            o.threshold.map_or("–".to_string(), |t| format!("{t:.3}")),
        );
    }
    html.push_str("</table>\n<p class=\"sub\">Descriptors with neither test support nor suggestions are omitted.</p></body></html>\n");
    html
}

const STYLE: &str = "body{font-family:system-ui,sans-serif;margin:2em auto;max-width:1100px;color:#222}\
h1{margin-bottom:0}.sub{color:#666}table{border-collapse:collapse;margin:1em 0}\
th,td{padding:2px 10px;border-bottom:1px solid #ddd;text-align:left;font-variant-numeric:tabular-nums}\
table.figures th{font-weight:normal;color:#555}.charts{display:flex;flex-wrap:wrap;gap:24px}\
figure{margin:0;width:520px}figcaption{font-size:13px;color:#555}svg text{font-size:11px;fill:#333}";

fn figure(title: &str, svg: &str, caption: &str) -> String {
    format!(
        "<figure><h3>{}</h3>{svg}<figcaption>{}</figcaption></figure>",
        escape(title),
        escape(caption)
    )
}

fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

/// A plotting area with linear axes mapping data to SVG pixels.
struct Plot {
    width: f64,
    height: f64,
    left: f64,
    bottom: f64,
    x_range: (f64, f64),
    y_range: (f64, f64),
    svg: String,
}

impl Plot {
    const TOP: f64 = 12.0;
    const RIGHT: f64 = 24.0;

    fn new(x_range: (f64, f64), y_range: (f64, f64), x_label: &str, y_label: &str) -> Plot {
        let mut plot = Plot {
            width: 520.0,
            height: 340.0,
            left: 52.0,
            bottom: 42.0,
            x_range,
            y_range,
            svg: String::new(),
        };
        let _ = write!(
            plot.svg,
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\" viewBox=\"0 0 {w} {h}\">\
<rect x=\"0\" y=\"0\" width=\"{w}\" height=\"{h}\" fill=\"#fff\"/>",
            w = plot.width,
            h = plot.height
        );
        let (x0, y0, x1, y1) = plot.frame();
        let _ = write!(
            plot.svg,
            "<rect x=\"{x0}\" y=\"{y1}\" width=\"{}\" height=\"{}\" fill=\"none\" stroke=\"#999\"/>\
<text x=\"{}\" y=\"{}\" text-anchor=\"middle\">{}</text>\
<text transform=\"translate(14 {}) rotate(-90)\" text-anchor=\"middle\">{}</text>",
            x1 - x0,
            y0 - y1,
            (x0 + x1) / 2.0,
            plot.height - 6.0,
            escape(x_label),
            (y0 + y1) / 2.0,
            escape(y_label)
        );
        plot
    }

    /// Pixel corners: left, bottom, right, top.
    fn frame(&self) -> (f64, f64, f64, f64) {
        (
            self.left,
            self.height - self.bottom,
            self.width - Self::RIGHT,
            Self::TOP,
        )
    }

    fn px(&self, x: f64) -> f64 {
        let (x0, _, x1, _) = self.frame();
        x0 + (x - self.x_range.0) / (self.x_range.1 - self.x_range.0) * (x1 - x0)
    }

    fn py(&self, y: f64) -> f64 {
        let (_, y0, _, y1) = self.frame();
        y0 - (y - self.y_range.0) / (self.y_range.1 - self.y_range.0) * (y0 - y1)
    }

    fn x_tick(&mut self, x: f64, label: &str) {
        let (_, y0, _, y1) = self.frame();
        let px = self.px(x);
        let _ = write!(
            self.svg,
            "<line x1=\"{px:.1}\" y1=\"{y1}\" x2=\"{px:.1}\" y2=\"{y0}\" stroke=\"#eee\"/>\
<text x=\"{px:.1}\" y=\"{}\" text-anchor=\"middle\">{}</text>",
            y0 + 14.0,
            escape(label)
        );
    }

    fn y_tick(&mut self, y: f64, label: &str) {
        let (x0, _, x1, _) = self.frame();
        let py = self.py(y);
        let _ = write!(
            self.svg,
            "<line x1=\"{x0}\" y1=\"{py:.1}\" x2=\"{x1}\" y2=\"{py:.1}\" stroke=\"#eee\"/>\
<text x=\"{}\" y=\"{:.1}\" text-anchor=\"end\">{}</text>",
            x0 - 5.0,
            py + 4.0,
            escape(label)
        );
    }

    fn unit_ticks(&mut self, x: bool, y: bool) {
        for i in 0..=5 {
            let v = i as f64 / 5.0;
            if x {
                self.x_tick(v, &format!("{v:.1}"));
            }
            if y {
                self.y_tick(v, &format!("{v:.1}"));
            }
        }
    }

    fn polyline(&mut self, points: &[(f64, f64)], style: &str) {
        let coords: Vec<String> = points
            .iter()
            .map(|&(x, y)| format!("{:.1},{:.1}", self.px(x), self.py(y)))
            .collect();
        let _ = write!(
            self.svg,
            "<polyline points=\"{}\" fill=\"none\" {style}/>",
            coords.join(" ")
        );
    }

    fn dot(&mut self, x: f64, y: f64, radius: f64, style: &str, title: &str) {
        let _ = write!(
            self.svg,
            "<circle cx=\"{:.1}\" cy=\"{:.1}\" r=\"{radius:.1}\" {style}><title>{}</title></circle>",
            self.px(x),
            self.py(y),
            escape(title)
        );
    }

    fn text(&mut self, x: f64, y: f64, text: &str) {
        let _ = write!(
            self.svg,
            "<text x=\"{:.1}\" y=\"{:.1}\">{}</text>",
            self.px(x),
            self.py(y),
            escape(text)
        );
    }

    fn finish(mut self) -> String {
        self.svg.push_str("</svg>");
        self.svg
    }
}

/// `(recall, precision)` of a global cut-off swept down the scores, thinned to
/// [`CURVE_POINTS`].
pub fn precision_recall_points(scored: &[(f32, bool)], gold_assignments: u64) -> Vec<(f64, f64)> {
    let mut sorted: Vec<(f32, bool)> = scored.to_vec();
    sorted.sort_unstable_by(|a, b| b.0.total_cmp(&a.0));
    let mut points = Vec::new();
    let mut tp = 0u64;
    for (i, &(score, gold)) in sorted.iter().enumerate() {
        tp += gold as u64;
        if sorted.get(i + 1).is_some_and(|next| next.0 == score) {
            continue;
        }
        points.push((
            tp as f64 / gold_assignments.max(1) as f64,
            tp as f64 / (i + 1) as f64,
        ));
    }
    let step = points.len().div_ceil(CURVE_POINTS).max(1);
    let last = points.last().copied();
    let mut thinned: Vec<(f64, f64)> = points.into_iter().step_by(step).collect();
    if let Some(last) = last {
        if thinned.last() != Some(&last) {
            thinned.push(last);
        }
    }
    thinned
}

fn precision_recall_chart(evaluation: &Evaluation) -> String {
    let r = &evaluation.report;
    let mut plot = Plot::new((0.0, 1.0), (0.0, 1.0), "recall", "precision");
    plot.unit_ticks(true, true);
    let points = precision_recall_points(&evaluation.scored, r.gold_assignments);
    plot.polyline(&points, "stroke=\"#1f77b4\" stroke-width=\"2\"");
    plot.dot(
        r.micro_recall,
        r.micro_precision,
        5.0,
        "fill=\"#d62728\"",
        &format!(
            "decision rule: P {:.3}, R {:.3}, F1 {:.3}",
            r.micro_precision, r.micro_recall, r.micro_f1
        ),
    );
    plot.text(
        0.04,
        0.06,
        &format!(
            "● decision rule: P {:.3}, R {:.3}, F1 {:.3}",
            r.micro_precision, r.micro_recall, r.micro_f1
        ),
    );
    plot.finish()
}

fn frequency_chart(labels: &[LabelOutcome]) -> String {
    let seen: Vec<(&LabelOutcome, u32)> = labels
        .iter()
        .filter(|o| o.support > 0)
        .filter_map(|o| o.train_docs.map(|n| (o, n.max(1))))
        .collect();
    let max_docs = seen.iter().map(|s| s.1).max().unwrap_or(10).max(10) as f64;
    let decades = max_docs.log10().ceil();
    let mut plot = Plot::new(
        (0.0, decades),
        (0.0, 1.0),
        "training documents (log scale)",
        "test F1",
    );
    plot.unit_ticks(false, true);
    for d in 0..=decades as i32 {
        plot.x_tick(d as f64, &format!("{}", 10u64.pow(d as u32)));
    }
    for (o, n) in &seen {
        plot.dot(
            (*n as f64).log10(),
            o.f1(),
            3.5,
            "fill=\"#1f77b4\" fill-opacity=\"0.55\"",
            &format!(
                "{}: {} training documents, support {}, F1 {:.3}",
                o.descriptor,
                n,
                o.support,
                o.f1()
            ),
        );
    }
    plot.finish()
}

fn calibration_chart(evaluation: &Evaluation) -> String {
    let r = &evaluation.report;
    let mut plot = Plot::new((0.0, 1.0), (0.0, 1.0), "mean score", "fraction correct");
    plot.unit_ticks(true, true);
    plot.polyline(
        &[(0.0, 0.0), (1.0, 1.0)],
        "stroke=\"#999\" stroke-dasharray=\"4 3\"",
    );
    let bins: Vec<_> = r.reliability.iter().filter(|b| b.count > 0).collect();
    let points: Vec<(f64, f64)> = bins
        .iter()
        .map(|b| (b.mean_score, b.fraction_correct))
        .collect();
    plot.polyline(&points, "stroke=\"#ff7f0e\" stroke-width=\"2\"");
    for b in &bins {
        plot.dot(
            b.mean_score,
            b.fraction_correct,
            2.0 + (b.count as f64).log10().max(0.0) * 2.0,
            "fill=\"#ff7f0e\" fill-opacity=\"0.7\"",
            &format!(
                "scores {:.1}–{:.1}: {} suggestions, mean score {:.3}, correct {:.3}",
                b.lower, b.upper, b.count, b.mean_score, b.fraction_correct
            ),
        );
    }
    plot.text(0.04, 0.92, &format!("ECE {:.4}", r.ece));
    plot.finish()
}

/// The descriptors shown in the worst-descriptors chart, worst first.
pub fn worst_descriptors(labels: &[LabelOutcome]) -> Vec<&LabelOutcome> {
    let mut ranked: Vec<&LabelOutcome> = labels
        .iter()
        .filter(|o| o.support >= WORST_MIN_SUPPORT)
        .collect();
    ranked.sort_by(|a, b| {
        a.f1()
            .total_cmp(&b.f1())
            .then(b.support.cmp(&a.support))
            .then(a.descriptor.cmp(&b.descriptor))
    });
    ranked.truncate(WORST_SHOWN);
    ranked
}

fn worst_chart(labels: &[LabelOutcome]) -> String {
    let worst = worst_descriptors(labels);
    let row = 16.0;
    let (width, name_width, bar_width) = (520.0, 175.0, 160.0);
    let height = 24.0 + row * worst.len().max(1) as f64;
    let mut svg = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{height}\" viewBox=\"0 0 {width} {height}\">\
<rect x=\"0\" y=\"0\" width=\"{width}\" height=\"{height}\" fill=\"#fff\"/>\
<text x=\"{name_width}\" y=\"12\">F1 0</text><text x=\"{}\" y=\"12\" text-anchor=\"end\">1</text>",
        name_width + bar_width
    );
    if worst.is_empty() {
        svg.push_str("<text x=\"10\" y=\"34\">no descriptor has enough test support</text>");
    }
    for (i, o) in worst.iter().enumerate() {
        let y = 20.0 + row * i as f64;
        let name: String = o.descriptor.chars().take(26).collect();
        let _ = write!(
            svg,
            "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{}</text>\
<rect x=\"{name_width}\" y=\"{y:.1}\" width=\"{bar_width}\" height=\"{:.1}\" fill=\"#f2f2f2\"/>\
<rect x=\"{name_width}\" y=\"{y:.1}\" width=\"{:.1}\" height=\"{:.1}\" fill=\"#d62728\"><title>{}</title></rect>\
<text x=\"{:.1}\" y=\"{:.1}\">{:.2} · sup {} · FP {} · FN {}</text>",
            name_width - 6.0,
            y + row - 5.0,
            escape(&name),
            row - 3.0,
            bar_width * o.f1(),
            row - 3.0,
            escape(&format!(
                "{}: F1 {:.3}, support {}, TP {}, FP {}, FN {}",
                o.descriptor,
                o.f1(),
                o.support,
                o.true_positives,
                o.false_positives,
                o.false_negatives
            )),
            name_width + bar_width + 6.0,
            y + row - 5.0,
            o.f1(),
            o.support,
            o.false_positives,
            o.false_negatives
        );
    }
    svg.push_str("</svg>");
    svg
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outcome(name: &str, support: u64, tp: u64, fp: u64) -> LabelOutcome {
        LabelOutcome {
            descriptor: name.into(),
            train_docs: Some(10),
            support,
            true_positives: tp,
            false_positives: fp,
            false_negatives: support - tp,
            threshold: Some(0.4),
        }
    }

    #[test]
    fn precision_recall_curve_sweeps_the_scores() {
        // Scores 0.9 (gold), 0.8 (not), 0.7 (gold); 3 gold in all.
        let points = precision_recall_points(&[(0.7, true), (0.9, true), (0.8, false)], 3);
        let expected = [(1.0 / 3.0, 1.0), (1.0 / 3.0, 0.5), (2.0 / 3.0, 2.0 / 3.0)];
        assert_eq!(points.len(), 3);
        for (p, e) in points.iter().zip(expected) {
            assert!((p.0 - e.0).abs() < 1e-12 && (p.1 - e.1).abs() < 1e-12);
        }
    }

    #[test]
    fn worst_descriptors_need_support_and_come_lowest_f1_first() {
        let labels = vec![
            outcome("GOOD", 5, 5, 0),
            outcome("BAD", 4, 0, 2),
            outcome("RARE", 1, 0, 0),
            outcome("MIDDLE", 4, 2, 2),
        ];
        let names: Vec<&str> = worst_descriptors(&labels)
            .iter()
            .map(|o| o.descriptor.as_str())
            .collect();
        assert_eq!(names, vec!["BAD", "MIDDLE", "GOOD"]);
    }

    #[test]
    fn tsv_escapes_names_and_marks_unseen_descriptors() {
        let mut unseen = outcome("NEW\tTERM", 2, 0, 0);
        unseen.train_docs = None;
        unseen.threshold = None;
        let eval_labels = vec![outcome("A", 3, 2, 1), unseen];
        let text = per_label_tsv(&Evaluation {
            report: crate::evaluate::EvalReport::default(),
            labels: eval_labels,
            scored: Vec::new(),
            documents: Vec::new(),
        });
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 3);
        assert_eq!(
            lines[1],
            "A\t3\t2\t1\t1\t0.6667\t0.6667\t0.6667\t0.4000\t10"
        );
        assert_eq!(
            lines[2],
            "NEW TERM\t2\t0\t0\t2\t0.0000\t0.0000\t0.0000\t-\t0"
        );
        assert!(escape("<a & b>").contains("&lt;a &amp; b&gt;"));
    }
}
