//! golden/paper/*.ron are generated from the transcription CSVs beside them and must stay equal
//! to them, byte for byte. Regenerate with `MLAGENT_BLESS_PAPER=1 cargo nextest run --test
//! report_golden` (only after a deliberate change to a CSV or to the provenance below).

use std::path::{Path, PathBuf};

use mlagent::paper::{EvalTask, Level, PaperModel, RlMethod, Split};
use mlagent::report::golden::{Fidelity, PaperFigure4, PaperTable1, Provenance, to_ron_text};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

const PAPER: &str = "Liu, Chai, Zhu, Tang, Ye, Zhang, Bai, Chen: ML-Agent: Reinforcing LLM Agents for Autonomous Machine Learning Engineering";
const REPO: &str = "github.com/MASWorks/ML-Agent";
const COMMIT: &str = "15932e7525deb99d59f7416bbe8c75077cff3690";

fn table1_provenance() -> Provenance {
    Provenance {
        paper: PAPER.into(),
        arxiv_id: "2505.23723".into(),
        arxiv_version: "v1".into(),
        repository: REPO.into(),
        commit: COMMIT.into(),
        image: "assets/table1.png".into(),
        image_sha256: "4ecb3867c37250e02cec3b4e901f6b91fb1c47043811338192b8f460b50941f5"
            .parse()
            .unwrap(),
        source_csv: "golden/paper/table1.csv".into(),
        fidelity: Fidelity::Exact,
        method:
            "transcribed cell by cell from the image and checked twice; every number as printed"
                .into(),
    }
}

fn figure4_provenance() -> Provenance {
    Provenance {
        paper: PAPER.into(),
        arxiv_id: "2505.23723".into(),
        arxiv_version: "v1".into(),
        repository: REPO.into(),
        commit: COMMIT.into(),
        image: "assets/figure3-4.png".into(),
        image_sha256: "d94b4b5b76c2743028c5b72fcd30ee74819231f954c1fcea8b225d940d983443"
            .parse()
            .unwrap(),
        source_csv: "golden/paper/figure4_digitized.csv".into(),
        fidelity: Fidelity::Approximate { tolerance_pp: 0.4 },
        method: "read off the plot's pixel grid; y = average relative gain (%) over the held-in (3) or held-out (10) tasks, x = GPU hours; step-wise points every 5 RL steps, episode-wise every step; baselines are the dashed horizontal lines".into(),
    }
}

fn check_or_bless(ron_path: &Path, expected_text: &str) {
    if std::env::var_os("MLAGENT_BLESS_PAPER").is_some() {
        mlagent::provenance::atomic::write(ron_path, expected_text.as_bytes()).unwrap();
    }
    let committed =
        std::fs::read_to_string(ron_path).unwrap_or_else(|e| panic!("{}: {e}", ron_path.display()));
    assert!(
        committed == expected_text,
        "{} differs from what its CSV generates; regenerate deliberately with MLAGENT_BLESS_PAPER=1",
        ron_path.display()
    );
}

#[test]
fn table1_ron_equals_csv() {
    let csv = root().join("golden/paper/table1.csv");
    let ron_path = root().join("golden/paper/table1.ron");
    let from_csv = PaperTable1::from_csv(&csv, table1_provenance()).unwrap();
    check_or_bless(&ron_path, &to_ron_text(&from_csv).unwrap());
    let loaded = PaperTable1::load(&ron_path).unwrap();
    assert_eq!(loaded, from_csv);
    assert_eq!(loaded.rows.len(), 26);
}

#[test]
fn table1_prints_every_cell_as_the_csv() {
    // The row's `decimals` reproduce every printed number exactly.
    let csv = root().join("golden/paper/table1.csv");
    let t = PaperTable1::load(&root().join("golden/paper/table1.ron")).unwrap();
    let mut rdr = csv::Reader::from_path(&csv).unwrap();
    let headers = rdr.headers().unwrap().clone();
    let mut n = 0;
    for rec in rdr.records() {
        let rec = rec.unwrap();
        let task = EvalTask::from_paper_name(&rec[0]).unwrap();
        let level = if &rec[6] == "avg" {
            Level::Avg
        } else {
            Level::Best
        };
        let row = t.row(task, level);
        for m in PaperModel::ALL {
            let i = headers.iter().position(|h| h == m.id()).unwrap();
            assert_eq!(
                format!("{:.*}", row.decimals as usize, row.scores.get(*m)),
                &rec[i],
                "{task} {level:?} {m}"
            );
            n += 1;
        }
    }
    assert_eq!(n, 26 * 6);
}

#[test]
fn figure4_ron_equals_csv() {
    let csv = root().join("golden/paper/figure4_digitized.csv");
    let ron_path = root().join("golden/paper/figure4.ron");
    let from_csv = PaperFigure4::from_csv(&csv, figure4_provenance()).unwrap();
    check_or_bless(&ron_path, &to_ron_text(&from_csv).unwrap());
    let loaded = PaperFigure4::load(&ron_path).unwrap();
    assert_eq!(loaded, from_csv);
    assert_eq!(loaded.series.len(), 4);
    assert_eq!(loaded.baselines.len(), 10);
    let s = loaded.series(Split::HeldOut, RlMethod::StepWise).unwrap();
    assert_eq!(s.points.len(), 9);
    assert_eq!(s.points[8].gain_percent, 16.3);
    assert_eq!(loaded.tolerance(), 0.4);
}

#[test]
fn malformed_ron_errors_name_the_file_and_field() {
    let dir = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(root().join("golden/paper/table1.ron")).unwrap();

    // An unknown field: the parse error names file, line and field.
    let bad = dir.path().join("bad_field.ron");
    std::fs::write(&bad, text.replacen("decimals:", "decimal_places:", 1)).unwrap();
    let msg = PaperTable1::load(&bad).unwrap_err().to_string();
    assert!(msg.contains("bad_field.ron:"), "{msg}");
    assert!(msg.contains("decimal_places"), "{msg}");

    // A wrong direction passes the parser but not validation: file and field path named.
    let bad = dir.path().join("bad_direction.ron");
    std::fs::write(
        &bad,
        text.replacen("direction: Higher", "direction: Lower", 1),
    )
    .unwrap();
    let msg = PaperTable1::load(&bad).unwrap_err().to_string();
    assert!(msg.contains("bad_direction.ron"), "{msg}");
    assert!(msg.contains("rows[0].direction"), "{msg}");

    // An unknown task id.
    let bad = dir.path().join("bad_task.ron");
    std::fs::write(&bad, text.replacen("\"cifar-10\"", "\"cifar10\"", 1)).unwrap();
    let msg = PaperTable1::load(&bad).unwrap_err().to_string();
    assert!(msg.contains("bad_task.ron:"), "{msg}");
    assert!(msg.contains("cifar10"), "{msg}");

    // A truncated file.
    let bad = dir.path().join("truncated.ron");
    std::fs::write(&bad, &text[..text.len() / 2]).unwrap();
    let msg = PaperFigure4::load(&bad).unwrap_err().to_string();
    assert!(msg.contains("truncated.ron:"), "{msg}");
}
