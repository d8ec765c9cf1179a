//! `cargo xtask aggregate`: the study's tables and plots from a suite's run directories, in five
//! steps: [`load`] the run records into a Polars `DataFrame` → [`summarise`] mean, std and count
//! over seeds per (setting, task, agent) and pivot to task × agent → [`render`] Markdown and CSV
//! (each CSV also as Parquet, [`parquet`]) → write → [`plot`]; and [`claims`]: the study's
//! qualitative claims next to the same statistics on the suite's runs (`SUITE-claims.md`).
//!
//! Per setting: rows = tasks (each naming the paper task it stands in for), columns = agents,
//! cells = mean ± std over seeds (sample std; 0 for one seed), the best mean of a row in bold, an
//! aggregate row (mean over tasks), and "wins out of N tasks" of each NF agent against each
//! baseline. Missing runs are listed under the table, never averaged away. The goal-conditioned
//! and offline-RL settings have two tables: success in % averaged over the last three
//! evaluations (what OGBench and FQL report), then the final evaluation's; the imitation settings
//! the final evaluation's score, then each episode's best; the online (unsupervised-GCRL)
//! settings success on the hard goals (the study's Fig. 6), on the easy goals, and the share of
//! the maze each agent visited, with curves of hard-goal success against environment steps.
//! Each heading says which it shows.
//! An ablation setting (its runs are `[[experiment.variant]]`s, columns `agent@variant`) starts
//! with the paper's layout ([`ablation`]): variant × task, our number beside the paper's.
//! Plots: learning curves per task (mean ± std shaded) and a bar chart per setting, PNG and SVG;
//! and a timing table (train steps/s, batch-1 action latency). `SUITE-runs.csv` lists every run
//! of the suite, one row each (missing ones with their status and empty numbers):
//! `pl.read_csv("results/tables/quick-runs.csv")` in Python gets the same numbers.
//!
//! Polars features: eager `DataFrame`s only (`fmt`). Polars 0.55 keeps `pivot` in its lazy API and
//! CSV/Parquet I/O in `polars-io`. Cold release builds of a crate depending on polars 0.55 alone,
//! measured side by side on the loaded 2-core build machine (CPU time user + sys; wall times were
//! 67 / 70 / 83 min under the load): `fmt` 464 s, `fmt, csv` 623 s (+34 %), `fmt, lazy, pivot`
//! 781 s (+68 %). On an idle machine `fmt` alone is ~5 min of wall time, `lazy, csv` ~17.
//! So the group-by runs eagerly (`group_by_stable(..).apply`), the pivot is a loop over the
//! summary's rows, and CSV goes through the `csv` crate.

mod ablation;
mod claims;
mod load;
mod parquet;
mod plot;
mod render;
mod summarise;

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use polars::prelude::DataFrame;

use crate::rundir::{write_atomic, write_atomic_bytes};
use crate::suite::Suite;

/// The comparisons the tables count wins for, from the agent registry (each agent's
/// `COMPARED_AGAINST`, plus the `random` floor).
fn pairs() -> Vec<(String, Vec<String>)> {
    crate::agents::table_pairs().into_iter().map(|(a, bases)| (a.to_string(), bases.into_iter().map(str::to_string).collect())).collect()
}

/// Writes tables and plots for `suite` under `results/` and returns a short report (paths and
/// the first setting's table).
pub fn aggregate(suite: &Suite, results: &Path) -> Result<String> {
    let tables = results.join("tables");
    let plots = results.join("plots");
    for d in [&tables, &plots] {
        std::fs::create_dir_all(d).with_context(|| format!("creating {}", d.display()))?;
    }
    let records = load::load(suite)?;
    let summary = summarise::summarise(&records.runs).context("summarising the runs")?;
    let pairs = pairs();
    let mut report = String::new();
    let mut written: Vec<PathBuf> = Vec::new();
    let ablations = ablation::ablations(suite);
    for (setting, (tasks, agents)) in &records.order {
        let rows = summarise::for_setting(&summary, setting)?;
        let imitation = tasks.iter().all(|t| records.tasks[t].is_imitation());
        let top = tasks.iter().map(|t| (t.clone(), if imitation { records.tasks[t].top_score as f64 } else { 100.0 })).collect();
        let over_tasks = summarise::mean_over_tasks(&rows, &top)?;
        let wide = summarise::pivot(&rows, tasks, agents)?;
        // Another of the runs' number columns, as one setting's (mean over tasks, pivot). Each
        // task's `stands in for` is the final table's, so that a task whose runs all lack the
        // number still names its row.
        let other = |column: &str| -> Result<(DataFrame, DataFrame)> {
            let summary = summarise::summarise_by(&records.runs, column).with_context(|| format!("summarising the runs' `{column}`"))?;
            let rows = summarise::for_setting(&summary, setting)?;
            let mut pivot = summarise::pivot(&rows, tasks, agents)?;
            pivot.with_column(wide.column("stands_in_for")?.clone())?;
            Ok((summarise::mean_over_tasks(&rows, &top)?, pivot))
        };
        let table = |wide: &DataFrame, over_tasks: &DataFrame, pairs: &[(String, Vec<String>)], missing: &[String], metric| {
            render::setting_markdown(&render::SettingTable { suite: &suite.name, setting, wide, over_tasks, agents, imitation, pairs, missing, metric })
        };
        let final_md = table(&wide, &over_tasks, &pairs, &render::missing(&records.runs, setting, "value")?, render::Metric::Final)?;
        let online = tasks.iter().all(|t| records.tasks[t].kind == envs::TaskKind::Online);
        let md = if online {
            // The study plots success on the hard goals; the easy goals and the coverage follow.
            let (over_hard, hard) = other("hard")?;
            let (over_easy, easy) = other("easy")?;
            let (over_cov, cov) = other("coverage")?;
            [
                table(&hard, &over_hard, &pairs, &render::missing(&records.runs, setting, "hard")?, render::Metric::HardGoals)?,
                table(&easy, &over_easy, &pairs, &[], render::Metric::EasyGoals)?,
                table(&cov, &over_cov, &[], &[], render::Metric::Coverage)?,
            ]
            .join("\n")
        } else if imitation {
            // The study's final score first, then each episode's best (PushT's max coverage).
            let (over, best) = other("score")?;
            format!("{final_md}\n{}", table(&best, &over, &[], &[], render::Metric::EpisodeBest)?)
        } else {
            // OGBench's and FQL's statistic first, then the final evaluation; each with its wins
            // and the runs it lacks (a record from before `last3` existed lacks only that one).
            let (over, last3) = other("last3")?;
            let last3_md = table(&last3, &over, &pairs, &render::missing(&records.runs, setting, "last3")?, render::Metric::Last3)?;
            if tasks.iter().all(|t| records.tasks[t].meta.singletask.is_some()) {
                // Offline RL: the return, which moves before success does at small budgets.
                let (over_ret, ret) = other("return")?;
                format!("{last3_md}\n{final_md}\n{}", table(&ret, &over_ret, &pairs, &[], render::Metric::Return)?)
            } else {
                format!("{last3_md}\n{final_md}")
            }
        };
        // An ablation's table in the paper's layout comes first, with its own CSV and sweep plot.
        let md = match ablations.iter().find(|a| &a.setting == setting) {
            Some(a) => {
                let cells = ablation::cells(a, &records.runs, &records.tasks)?;
                let csv_path = tables.join(format!("{}-{setting}-ablation.csv", suite.name));
                write_csv_and_parquet(&csv_path, ablation::csv(a, &cells, &records.tasks)?.as_bytes(), &mut written)?;
                written.extend(ablation::plot(&plots, &suite.name, a, &cells)?);
                format!("{}\n{md}", ablation::markdown(&suite.name, a, &cells, &records.tasks))
            }
            None => md,
        };
        let csv = render::table_csv(&wide)?;
        for task in tasks {
            let curves: Vec<_> = agents.iter().map(|a| records.curves.get(&(setting.clone(), task.clone(), a.clone()))).collect();
            written.extend(plot::plot_curves(&plots, &suite.name, setting, &records.tasks[task], agents, &curves)?);
        }
        let md_path = tables.join(format!("{}-{setting}.md", suite.name));
        let csv_path = tables.join(format!("{}-{setting}.csv", suite.name));
        write_atomic(&md_path, &md)?;
        write_csv_and_parquet(&csv_path, &csv, &mut written)?;
        written.extend(plot::plot_bars(&plots, &suite.name, setting, agents, &over_tasks)?);
        if report.is_empty() {
            report = md.clone();
        }
        written.push(md_path);
    }
    let runs_path = tables.join(format!("{}-runs.csv", suite.name));
    write_csv_and_parquet(&runs_path, &render::runs_csv(&records.runs)?, &mut written)?;
    if let Some(md) = claims::report(&suite.name, &records).context("the claims report")? {
        let claims_path = tables.join(format!("{}-claims.md", suite.name));
        write_atomic(&claims_path, &md)?;
        written.push(claims_path);
    }
    let timing_path = tables.join(format!("{}-timing.md", suite.name));
    write_atomic(&timing_path, &render::timing_markdown(&summary, &records.order)?)?;
    written.push(timing_path);
    Ok(format!("{report}\ntables in {}, plots in {} ({} files)", tables.display(), plots.display(), written.len()))
}

/// Writes a table's CSV and its Parquet copy beside it (same stem, `.parquet`), and records both.
fn write_csv_and_parquet(path: &Path, csv: &[u8], written: &mut Vec<PathBuf>) -> Result<()> {
    write_atomic_bytes(path, csv)?;
    let parquet_path = path.with_extension("parquet");
    write_atomic_bytes(&parquet_path, &parquet::from_csv(csv).with_context(|| format!("converting {} to Parquet", path.display()))?)?;
    written.push(path.to_path_buf());
    written.push(parquet_path);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fresh directory `nf-rl-aggregate-{name}-PID` with the suite `{file}.toml` written from
    /// `text` and loaded against `results/` there, and the plot font registered.
    fn fixture(name: &str, file: &str, text: &str) -> (PathBuf, crate::suite::Suite) {
        let root = std::env::temp_dir().join(format!("nf-rl-aggregate-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(&root).unwrap();
        let suite_path = root.join(format!("{file}.toml"));
        std::fs::write(&suite_path, text).unwrap();
        let results = root.join("results");
        let suite = crate::suite::load(&suite_path, &results, Path::new("data")).unwrap();
        plotters::style::register_font("sans-serif", plotters::style::FontStyle::Normal, dejavu::sans::regular()).ok();
        (results, suite)
    }

    /// The claims report from a fixture of offline-RL runs: NF-RLBC best on the one task where
    /// anything succeeded (the other counted apart), λ > 0 (`nf-rlbc@maxent`) against λ = 0,
    /// and the claims without runs marked as not measured.
    #[test]
    fn the_claims_report_counts_beyond_the_spread() {
        let (results, suite) = fixture(
            "claims",
            "cl",
            "[suite]\nseeds = [0, 1, 2]\n\n[[experiment]]\nsetting = \"offline-rl\"\ntasks = [\"kinpuzzle-3x3-play-singletask-task1\", \"kinpuzzle-3x3-play-singletask-task2\"]\nagents = [\"nf-rlbc\", \"nf-rlbc@maxent\", \"bc\"]\nsteps = 10\neval_every = 5\n[experiment.agent.\"nf-rlbc@maxent\"]\nlambda = 0.1\n",
        );
        for r in &suite.runs {
            let s = match (r.spec.task.ends_with("task1"), r.column().as_str()) {
                (true, "nf-rlbc") => [0.5, 0.6, 0.7][r.spec.seed as usize],
                (true, "nf-rlbc@maxent") => 0.2,
                (true, _) => 0.1,
                (false, _) => 0.0,
            };
            std::fs::create_dir_all(&r.spec.out).unwrap();
            std::fs::write(
                r.spec.out.join(crate::rundir::FINAL_FILE),
                format!(
                    "agent = {:?}\ntask = {:?}\nseed = {}\nsteps = 10\nsuccess = {s}\nreturn = -1\nsuccess_last3 = {s}\nbest_success = {s}\nsteps_per_second = 10.0\naction_latency_us = 1.0\nstands_in_for = \"row X\"\n",
                    r.spec.agent, r.spec.task, r.spec.seed
                ),
            )
            .unwrap();
        }
        aggregate(&suite, &results).unwrap();
        let md = std::fs::read_to_string(results.join("tables/cl-claims.md")).unwrap();
        println!("{md}");
        assert!(md.contains("| Offline RL: NF-RLBC is best | 15 of 30 tasks | 1 of the 1 tasks where some agent succeeded, ties within the spread counted (1 by plain means; against BC); the other 1 of 2 tasks: every agent at 0 | agrees |"), "{md}");
        assert!(md.contains("| Offline RL: `nf-rlbc@maxent` (λ > 0, MaxEnt, Eq. 9) against λ = 0 | no experiment (the paper argues for λ > 0 but runs λ = 0) | better on 0 of 2, worse on 1, within the spread on 1; over the 2 tasks 10.0 ± 0.0 vs 30.0 ± 5.0 | our result |"), "{md}");
        assert!(md.contains("| on 1 of the 1 tasks where some agent succeeded (1 of 2 at 0 for every agent) | agrees |"), "{md}");
        assert!(md.contains("| Conditional IL: NF-GCBC beats GCBC per task-goal | 40 of 45 task-goals | — | not measured"), "{md}");
        assert!(md.contains("| Imitation: NF-BC's rank on `pusht` (stands in for PushT), final score | best | — | not measured"), "{md}");
        // The offline-RL setting's tables end with the return, which moves before success does.
        let setting = std::fs::read_to_string(results.join("tables/cl-offline-rl.md")).unwrap();
        let ret = setting.split("## cl — offline-rl: final evaluation's return").nth(1).unwrap_or_else(|| panic!("no return table: {setting}"));
        assert!(ret.contains("| kinpuzzle-3x3-play-singletask-task1 | row X | **-1.0 ± 0.0** | **-1.0 ± 0.0** | **-1.0 ± 0.0** |"), "{ret}");
    }

    /// A fixture of finished runs with known numbers: means, stds, bold, wins, missing runs and
    /// non-empty plots.
    #[test]
    fn aggregation_of_a_fixture() {
        let (results, suite) = fixture("fx", "fx", "[suite]\nseeds = [0, 1]\n\n[[experiment]]\nsetting = \"cil\"\ntasks = [\"pointmaze-medium-navigate\", \"pointmaze-large-navigate\"]\nagents = [\"nf-gcbc\", \"gcbc\"]\nsteps = 10\neval_every = 5\n");
        // success per (task, agent, seed); large/gcbc/seed1 is missing.
        let table = [
            ("pointmaze-medium-navigate", "nf-gcbc", 0, 0.5),
            ("pointmaze-medium-navigate", "nf-gcbc", 1, 0.7),
            ("pointmaze-medium-navigate", "gcbc", 0, 0.2),
            ("pointmaze-medium-navigate", "gcbc", 1, 0.2),
            ("pointmaze-large-navigate", "nf-gcbc", 0, 0.1),
            ("pointmaze-large-navigate", "nf-gcbc", 1, 0.1),
            ("pointmaze-large-navigate", "gcbc", 0, 0.3),
        ];
        for r in &suite.runs {
            let Some(&(_, _, _, s)) = table.iter().find(|(t, a, seed, _)| *t == r.spec.task && *a == r.spec.agent && *seed == r.spec.seed) else { continue };
            std::fs::create_dir_all(&r.spec.out).unwrap();
            // final.toml as the code before scores existed wrote it.
            std::fs::write(
                r.spec.out.join(crate::rundir::FINAL_FILE),
                format!(
                    "agent = {:?}\ntask = {:?}\nseed = {}\nsteps = 10\nsuccess = {s}\nreturn = -{s}\nbest_success = {s}\nsteps_per_second = 10.000\naction_latency_us = 100.0\nstands_in_for = \"row X, native\"\n\n[tasks.task1]\nsuccess = {s}\nreturn = -{s}\n",
                    r.spec.agent, r.spec.task, r.spec.seed
                ),
            )
            .unwrap();
            std::fs::write(r.spec.out.join(rl::METRICS_FILE), format!("step,eval/success,time/steps_per_s\n5,{},1\n10,{s},1\n", s / 2.0)).unwrap();
        }
        let report = aggregate(&suite, &results).unwrap();
        let md = std::fs::read_to_string(results.join("tables/fx-cil.md")).unwrap();
        println!("{md}");
        // medium: nf-gcbc 60.0 ± 14.1 (bold), gcbc 20.0 ± 0.0; large: nf 10.0 ± 0.0, gcbc 30.0 ± 0.0 (bold, one seed).
        assert!(md.contains("| pointmaze-medium-navigate | row X, native | **60.0 ± 14.1** | 20.0 ± 0.0 |"), "{md}");
        assert!(md.contains("| pointmaze-large-navigate | row X, native | 10.0 ± 0.0 | **30.0 ± 0.0** |"), "{md}");
        assert!(md.contains("| **mean over tasks** | | 35.0 (2 tasks) | 25.0 (2 tasks) |"), "{md}");
        assert!(md.contains("nf-gcbc beats gcbc on 1 of 2 tasks"), "{md}");
        assert!(md.contains("Missing runs (1)") && md.contains("pointmaze-large-navigate / gcbc / seed 1"), "{md}");
        let csv = std::fs::read_to_string(results.join("tables/fx-cil.csv")).unwrap();
        assert!(csv.contains("pointmaze-medium-navigate,\"row X, native\",60.000,14.142,2,20.000,0.000,2"), "{csv}");
        // Its Parquet copy beside it, with the same rows.
        let parquet = ::parquet::file::serialized_reader::SerializedFileReader::try_from(results.join("tables/fx-cil.parquet").as_path()).unwrap();
        assert_eq!(::parquet::file::reader::FileReader::metadata(&parquet).file_metadata().num_rows() as usize, csv.lines().count() - 1);
        // Every run of the suite, one row each; the missing one keeps its status and no numbers.
        let runs = std::fs::read_to_string(results.join("tables/fx-runs.csv")).unwrap();
        assert_eq!(runs.lines().count(), 1 + 8, "{runs}");
        // The fixture's final.toml files are in the format written before scores existed
        // (`best_success`, no `score`): they still read, with empty score columns.
        assert!(runs.contains("cil,pointmaze-medium-navigate,nf-gcbc,1,done,0.7,-0.7,,,,,0.7,10.000,100.0,\"row X, native\","), "{runs}");
        assert!(runs.contains("cil,pointmaze-large-navigate,gcbc,1,not started,,,,,,,,,,,"), "{runs}");
        // Nor have they the last-three means: that table lists every run as missing, and shows
        // no number (never a 0) for any of them.
        let (last3, final_part) = md.split_once("## fx — cil: final evaluation\n").unwrap();
        assert!(last3.contains("## fx — cil: mean of the last three evaluations") && last3.contains("Missing runs (8)"), "{md}");
        assert!(
            last3.contains("| pointmaze-medium-navigate | row X, native | — | — |")
                && last3.contains("pointmaze-medium-navigate / nf-gcbc / seed 0 (done, but its final.toml predates this table's number)"),
            "{md}"
        );
        assert!(final_part.contains("Missing runs (1)") && final_part.contains("**60.0 ± 14.1**"), "{md}");
        for f in ["fx-cil-pointmaze-medium-navigate.png", "fx-cil-pointmaze-medium-navigate.svg", "fx-cil-bars.png", "fx-cil-bars.svg"] {
            let n = std::fs::metadata(results.join("plots").join(f)).map(|m| m.len()).unwrap_or(0);
            assert!(n > 2000, "{f}: {n} bytes");
        }
        assert!(report.contains("tables in"));
    }

    /// A conditional-IL setting's file has the success averaged over the last three evaluations
    /// first (OGBench's and FQL's number), then the final evaluation's, each saying which it is;
    /// a run recorded before the last-three means existed is missing from the first table only.
    #[test]
    fn goal_conditioned_tables_show_the_last_three_evaluations_then_the_final_one() {
        let (results, suite) = fixture(
            "last3",
            "l3",
            "[suite]\nseeds = [0, 1]\n\n[[experiment]]\nsetting = \"conditional-il\"\ntasks = [\"pointmaze-medium-navigate\"]\nagents = [\"nf-gcbc\", \"gcbc\"]\nsteps = 10\neval_every = 5\n",
        );
        // (final success, success over the last three evaluations) per (agent, seed); gcbc seed 1
        // is an old record without the last-three mean. The final evaluation ranks gcbc first,
        // the last three nf-gcbc.
        let table = [("nf-gcbc", 0, 0.4, Some(0.6)), ("nf-gcbc", 1, 0.6, Some(0.8)), ("gcbc", 0, 0.8, Some(0.5)), ("gcbc", 1, 0.6, None)];
        for r in &suite.runs {
            let &(_, _, last, last3) = table.iter().find(|(a, seed, _, _)| *a == r.spec.agent && *seed == r.spec.seed).unwrap();
            std::fs::create_dir_all(&r.spec.out).unwrap();
            let last3 = last3.map(|m| format!("success_last3 = {m}\nscore_final_last3 = {m}\n")).unwrap_or_default();
            std::fs::write(
                r.spec.out.join(crate::rundir::FINAL_FILE),
                format!(
                    "agent = {:?}\ntask = \"pointmaze-medium-navigate\"\nseed = {}\nsteps = 10\nsuccess = {last}\nreturn = 0\nscore = {last}\nscore_final = {last}\n{last3}best_score = {last}\nsteps_per_second = 10.000\naction_latency_us = 100.0\nstands_in_for = \"row M\"\n",
                    r.spec.agent, r.spec.seed
                ),
            )
            .unwrap();
        }
        aggregate(&suite, &results).unwrap();
        let md = std::fs::read_to_string(results.join("tables/l3-conditional-il.md")).unwrap();
        println!("{md}");
        let (last3, final_part) = md.split_once("## l3 — conditional-il: final evaluation\n").unwrap();
        assert!(
            last3
                .starts_with("## l3 — conditional-il: mean of the last three evaluations\n\nSuccess (%) averaged over the last three evaluations, as OGBench and FQL report it, mean ± std over seeds"),
            "{md}"
        );
        // nf-gcbc: {60, 80} → 70.0 ± 14.1; gcbc: {50} (seed 1 has no mean, so it is missing, not 0).
        assert!(last3.contains("| pointmaze-medium-navigate | row M | **70.0 ± 14.1** | 50.0 ± 0.0 |"), "{md}");
        assert!(last3.contains("| **mean over tasks** | | 70.0 (1 tasks) | 50.0 (1 tasks) |") && last3.contains("nf-gcbc beats gcbc on 1 of 1 tasks"), "{md}");
        assert!(last3.contains("Missing runs (1)") && last3.contains("pointmaze-medium-navigate / gcbc / seed 1 (done, but its final.toml predates this table's number)"), "{md}");
        assert!(final_part.starts_with("\nFinal evaluation's success (%)"), "{md}");
        // nf-gcbc: {40, 60} → 50.0 ± 14.1; gcbc: {80, 60} → 70.0 ± 14.1; every run has a final one.
        assert!(final_part.contains("| pointmaze-medium-navigate | row M | 50.0 ± 14.1 | **70.0 ± 14.1** |"), "{md}");
        assert!(final_part.contains("nf-gcbc beats gcbc on 0 of 1 tasks") && !final_part.contains("Missing runs"), "{md}");
        // The runs table carries both last-three means beside the final numbers; an old record's are empty.
        let runs = std::fs::read_to_string(results.join("tables/l3-runs.csv")).unwrap();
        assert!(runs.starts_with("setting,task,agent,seed,status,success,return,score,score_final,success_last3,score_final_last3,best_score,"), "{runs}");
        assert!(runs.contains("conditional-il,pointmaze-medium-navigate,nf-gcbc,1,done,0.6,0,0.6,0.6,0.8,0.8,0.6,"), "{runs}");
        assert!(runs.contains("conditional-il,pointmaze-medium-navigate,gcbc,1,done,0.6,0,0.6,0.6,,,0.6,"), "{runs}");
    }

    /// An ablation (a sweep over σ on pusht) gets the paper's layout first: a row per variant, our
    /// mean ± std beside the paper's number (or text); a run that diverged is shown with its step
    /// and term, and its variant's other seed still counts; the CSV and the sweep plot follow.
    #[test]
    fn an_ablation_gets_the_papers_layout_with_divergences() {
        let (results, suite) = fixture(
            "abl",
            "ab",
            "[suite]\nseeds = [0, 1]\n\n[[experiment]]\nsetting = \"ablation-noise\"\ntasks = [\"pusht\"]\nagents = [\"nf-bc\"]\nsteps = 10\neval_every = 5\n\
             [[experiment.variant]]\nname = \"sigma-0.1\"\nvalue = 0.1\nset = { noise_std = 0.1 }\npaper = { pusht = 0.827 }\n\
             [[experiment.variant]]\nname = \"sigma-0\"\nlabel = \"σ = 0\"\nvalue = 0.0\nset = { noise_std = 0.0, denoise = false }\npaper = { pusht = \"NaN (diverges)\" }\n",
        );
        let top = envs::Task::resolve("pusht").unwrap().top_score as f64;
        for r in &suite.runs {
            let dir = crate::rundir::RunDir::new(&r.spec.out);
            dir.create().unwrap();
            match (r.column().as_str(), r.spec.seed) {
                ("nf-bc@sigma-0", 0) => dir.write_diverged(&crate::rundir::Diverged { step: 7, term: "nll".into(), value: f64::NAN }).unwrap(),
                (col, seed) => {
                    let s = top * if col == "nf-bc@sigma-0" { 0.5 } else { [0.6, 0.8][seed as usize] };
                    std::fs::write(
                        dir.path().join(crate::rundir::FINAL_FILE),
                        format!("agent = \"nf-bc\"\ntask = \"pusht\"\nseed = {seed}\nsteps = 10\nsuccess = 0\nreturn = 0\nscore = {s}\nscore_final = {s}\nbest_score = {s}\nsteps_per_second = 10.0\naction_latency_us = 100.0\nstands_in_for = \"row P\"\n"),
                    )
                    .unwrap();
                }
            }
        }
        aggregate(&suite, &results).unwrap();
        let md = std::fs::read_to_string(results.join("tables/ab-ablation-noise.md")).unwrap();
        println!("{md}");
        assert!(md.starts_with("## ab — ablation-noise: ablation of nf-bc\n"), "{md}");
        assert!(md.contains("| variant | pusht (ours) | paper: "), "{md}");
        assert!(md.contains("| sigma-0.1 | 0.70 ± 0.14 | 0.827 |"), "{md}");
        assert!(md.contains("| σ = 0 | 0.50 ± 0.00 (1 of 2 seeds); **diverged**: seed 0 at step 7, `nll` = NaN | NaN (diverges) |"), "{md}");
        // The regular task × variant tables follow.
        assert!(md.contains("nf-bc@sigma-0.1") && md.contains("nf-bc@sigma-0"), "{md}");
        let csv = std::fs::read_to_string(results.join("tables/ab-ablation-noise-ablation.csv")).unwrap();
        assert!(csv.starts_with("setting,variant,label,value,task,stands_in_for,mean,std,seeds,diverged,paper\n"), "{csv}");
        assert!(csv.contains("ablation-noise,sigma-0.1,sigma-0.1,0.1,pusht,") && csv.contains(",0.7000,0.1414,2,,0.827"), "{csv}");
        assert!(csv.contains(",0.5000,0.0000,1,\"seed 0 at step 7, `nll` = NaN\",NaN (diverges)"), "{csv}");
        for f in ["ab-ablation-noise-sweep.png", "ab-ablation-noise-sweep.svg"] {
            let n = std::fs::metadata(results.join("plots").join(f)).map(|m| m.len()).unwrap_or(0);
            assert!(n > 2000, "{f}: {n} bytes");
        }
    }

    /// An imitation setting's file has the final-score table (with the wins) and the
    /// episode-best table (PushT's max coverage) from the same runs.
    #[test]
    fn imitation_tables_show_final_and_episode_best_scores() {
        let (results, suite) =
            fixture("il", "il", "[suite]\nseeds = [0, 1]\n\n[[experiment]]\nsetting = \"imitation\"\ntasks = [\"pusht\"]\nagents = [\"nf-bc\", \"bc\"]\nsteps = 10\neval_every = 5\n");
        // (max coverage, final coverage) per (agent, seed).
        let table = [("nf-bc", 0, 0.8, 0.6), ("nf-bc", 1, 0.6, 0.4), ("bc", 0, 0.5, 0.5), ("bc", 1, 0.7, 0.3)];
        for r in &suite.runs {
            let &(_, _, best, last) = table.iter().find(|(a, seed, _, _)| *a == r.spec.agent && *seed == r.spec.seed).unwrap();
            std::fs::create_dir_all(&r.spec.out).unwrap();
            std::fs::write(
                r.spec.out.join(crate::rundir::FINAL_FILE),
                format!(
                    "agent = {:?}\ntask = \"pusht\"\nseed = {}\nsteps = 10\nsuccess = 0\nreturn = 0\nscore = {best}\nscore_final = {last}\nbest_score = {last}\nsteps_per_second = 10.000\naction_latency_us = 100.0\nstands_in_for = \"row P\"\n",
                    r.spec.agent, r.spec.seed
                ),
            )
            .unwrap();
        }
        aggregate(&suite, &results).unwrap();
        let md = std::fs::read_to_string(results.join("tables/il-imitation.md")).unwrap();
        println!("{md}");
        let (final_part, best_part) = md.split_once("each episode's best score\n").unwrap();
        assert!(final_part.contains("| pusht | row P | **0.50 ± 0.14** | 0.40 ± 0.14 |") && final_part.contains("nf-bc beats bc on 1 of 1 tasks"), "{md}");
        assert!(best_part.contains("| pusht | row P | **0.70 ± 0.14** | 0.60 ± 0.14 |") && !best_part.contains("beats"), "{md}");
        assert!(best_part.contains("| **mean over tasks** | | 70.0 (1 tasks) | 60.0 (1 tasks) |"), "{md}");
    }

    /// An online setting's file has success on the hard goals (with the wins), on the easy
    /// goals, and the coverage, from each run's `final.toml`; its curves are hard-goal success
    /// against environment steps.
    #[test]
    fn online_tables_show_hard_and_easy_goals_and_coverage() {
        let (results, suite) = fixture(
            "ugs",
            "ugs",
            "[suite]\nseeds = [0, 1]\n\n[[experiment]]\nsetting = \"unsupervised-gcrl\"\ntasks = [\"pointmaze-umaze-online\"]\nagents = [\"nf-ugs\", \"crl-uniform\"]\nsteps = 20000\neval_every = 10000\n",
        );
        // (hard, easy, coverage) per (agent, seed).
        let table = [("nf-ugs", 0, 0.5, 0.9, 1.0), ("nf-ugs", 1, 0.3, 0.7, 0.8), ("crl-uniform", 0, 0.1, 0.6, 0.5), ("crl-uniform", 1, 0.1, 0.4, 0.7)];
        for r in &suite.runs {
            let &(_, _, hard, easy, cov) = table.iter().find(|(a, seed, ..)| *a == r.spec.agent && *seed == r.spec.seed).unwrap();
            std::fs::create_dir_all(&r.spec.out).unwrap();
            let s = (hard + easy) / 2.0;
            std::fs::write(
                r.spec.out.join(crate::rundir::FINAL_FILE),
                format!(
                    "agent = {:?}\ntask = \"pointmaze-umaze-online\"\nseed = {}\nsteps = 20000\nsuccess = {s}\nreturn = 0\nbest_score = {s}\nsteps_per_second = 10.000\naction_latency_us = 100.0\nstands_in_for = \"ant_u_maze\"\ncoverage = {cov}\n\n[tasks.easy]\nsuccess = {easy}\nreturn = 0\nat_goal = 0.5\n\n[tasks.hard]\nsuccess = {hard}\nreturn = 0\nat_goal = 0.25\n",
                    r.spec.agent, r.spec.seed
                ),
            )
            .unwrap();
            std::fs::write(r.spec.out.join(rl::METRICS_FILE), format!("step,eval/success,eval/hard/success,time/steps_per_s\n10000,0,{},1\n20000,{s},{hard},1\n", hard / 2.0)).unwrap();
        }
        aggregate(&suite, &results).unwrap();
        let md = std::fs::read_to_string(results.join("tables/ugs-unsupervised-gcrl.md")).unwrap();
        println!("{md}");
        let (hard, rest) = md.split_once(": easy goals, final evaluation\n").unwrap();
        let (easy, cov) = rest.split_once(": coverage\n").unwrap();
        assert!(hard.contains(": hard goals, final evaluation") && hard.contains("| pointmaze-umaze-online | ant_u_maze | **40.0 ± 14.1** | 10.0 ± 0.0 |"), "{md}");
        assert!(hard.contains("nf-ugs beats crl-uniform on 1 of 1 tasks"), "{md}");
        assert!(easy.contains("| pointmaze-umaze-online | ant_u_maze | **80.0 ± 14.1** | 50.0 ± 14.1 |"), "{md}");
        assert!(cov.contains("| pointmaze-umaze-online | ant_u_maze | **90.0 ± 14.1** | 60.0 ± 14.1 |"), "{md}");
        let curves = results.join("plots/ugs-unsupervised-gcrl-pointmaze-umaze-online.png");
        assert!(curves.exists(), "no learning curves at {}", curves.display());
    }
}
