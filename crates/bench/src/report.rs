//! The table every bench program prints: each figure with its target and a verdict.

/// Whether a figure meets its target.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Pass,
    Miss,
    /// A figure without a target.
    Info,
}

#[derive(Debug, Clone)]
pub struct Row {
    pub figure: String,
    pub value: String,
    pub target: String,
    pub verdict: Verdict,
}

/// The figures of one run, the notes that explain them, and whether engines disagreed.
#[derive(Debug, Default)]
pub struct Report {
    pub rows: Vec<Row>,
    pub notes: Vec<String>,
    pub disagreements: usize,
}

impl Report {
    /// A figure with a target: `pass` says whether it is met.
    pub fn target(&mut self, figure: &str, value: String, target: &str, pass: bool) {
        self.rows.push(Row {
            figure: figure.to_owned(),
            value,
            target: target.to_owned(),
            verdict: if pass { Verdict::Pass } else { Verdict::Miss },
        });
    }

    /// A figure without a target.
    pub fn info(&mut self, figure: &str, value: String) {
        self.rows.push(Row {
            figure: figure.to_owned(),
            value,
            target: "—".to_owned(),
            verdict: Verdict::Info,
        });
    }

    pub fn note(&mut self, text: String) {
        eprintln!("  {text}");
        self.notes.push(text);
    }

    /// Compares two engines' answers on every query; records and prints disagreements.
    pub fn compare(&mut self, what: &str, expected: &[bool], got: &[bool]) {
        let bad: Vec<usize> = expected
            .iter()
            .zip(got)
            .enumerate()
            .filter(|(_, (a, b))| a != b)
            .map(|(i, _)| i)
            .collect();
        if expected.len() != got.len() {
            self.disagreements += 1;
            eprintln!(
                "DISAGREEMENT: {what}: {} answers against {}",
                got.len(),
                expected.len()
            );
        }
        if !bad.is_empty() {
            self.disagreements += bad.len();
            eprintln!(
                "DISAGREEMENT: {what}: {} of {} answers differ (first at query {:?})",
                bad.len(),
                expected.len(),
                &bad[..bad.len().min(5)]
            );
        }
        let allowed = expected.iter().filter(|a| **a).count();
        self.info(
            &format!("answers compared: {what}"),
            format!(
                "{} queries ({:.0}% allowed), {} disagreements",
                expected.len(),
                100.0 * allowed as f64 / expected.len().max(1) as f64,
                bad.len()
            ),
        );
    }

    /// The Markdown table.
    pub fn markdown(&self) -> String {
        let mut s =
            String::from("| figure | measured | target | verdict |\n| --- | --- | --- | --- |\n");
        for r in &self.rows {
            let v = match r.verdict {
                Verdict::Pass => "PASS",
                Verdict::Miss => "MISS",
                Verdict::Info => "",
            };
            s.push_str(&format!(
                "| {} | {} | {} | {} |\n",
                r.figure, r.value, r.target, v
            ));
        }
        s
    }
}
