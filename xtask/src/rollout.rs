//! `cargo xtask show-task NAME --rollout DEMO --out FILE.gif` (or `FILE.png`): one episode of the
//! task's dataset, as the scripted expert played it, so a newcomer sees what the expert does.
//!
//! The episode is episode `DEMO` of the training split that `cargo xtask datasets` would write
//! (same seed, same bytes), regenerated here rather than read from disk so the command works
//! before any dataset exists. A `.gif` animates it (at most [`MAX_FRAMES`] frames, evenly
//! spaced, 10 per second); any other extension gets a strip of [`STRIP_FRAMES`] frames side by
//! side in one PNG, which is what fits in a README or a paper.

use std::path::Path;

use anyhow::{bail, Context, Result};
use envs::Split;
use plotters::prelude::*;

const MAX_FRAMES: usize = 150;
const STRIP_FRAMES: usize = 8;
const FRAME: (u32, u32) = (360, 360);

/// Draws episode `demo` of `name`'s dataset (base task name or a singletask variant, whose
/// dataset is the base task's) into `out`.
pub fn show_rollout(name: &str, demo: usize, out: &Path, seed: u64) -> Result<()> {
    let meta = envs::meta(name)?;
    let (Some(base), Some(recipe)) = (meta.dataset.clone(), meta.recipe) else {
        bail!("{name} has no dataset (the online mazes collect their own data), so it has no demonstrations to show");
    };
    // Episodes are generated independently from (seed, episode index), so the first `demo + 1`
    // episodes hold episode `demo` exactly as the full dataset does.
    if demo >= recipe.episodes {
        bail!("--rollout {demo}: {base}'s training split has {} episodes (0 … {})", recipe.episodes, recipe.episodes - 1);
    }
    let ds = envs::generate_with(&base, seed, Split::Train, demo + 1, recipe.episode_len)?;
    // The base task's env draws its own dataset's rows.
    let env = envs::make(&base)?;
    let (start, end) = *ds.episodes().last().context("the generator returned no episode")?;
    if let Some(parent) = out.parent() {
        std::fs::create_dir_all(parent).with_context(|| format!("creating {}", parent.display()))?;
    }
    let gif = out.extension().is_some_and(|e| e.eq_ignore_ascii_case("gif"));
    let frames = (if gif { MAX_FRAMES } else { STRIP_FRAMES }).min(end - start);
    let rows: Vec<usize> = (0..frames).map(|k| start + k * (end - 1 - start) / (frames - 1).max(1)).collect();
    let with_status = |text: String, status: &str| if status.is_empty() { text } else { format!("{text} · {status}") };
    if gif {
        let root = BitMapBackend::gif(out, (FRAME.0, FRAME.1 + 24), 100).with_context(|| format!("creating {}", out.display()))?.into_drawing_area();
        for &row in &rows {
            let scene = env.scene_of_row(&ds, row)?;
            root.fill(&WHITE)?;
            let (top, body) = root.split_vertically(24);
            top.draw(&Text::new(with_status(format!("{base} · demo {demo} · step {}/{}", row - start, end - 1 - start), &scene.status), (6, 4), ("sans-serif", 13).into_font()))?;
            super::frame(&body.margin(6, 6, 6, 6), &scene)?;
            root.present().with_context(|| format!("writing {}", out.display()))?;
        }
    } else {
        let root = BitMapBackend::new(out, (FRAME.0 * frames as u32, FRAME.1 + 24)).into_drawing_area();
        root.fill(&WHITE)?;
        for (k, area) in root.split_evenly((1, frames)).iter().enumerate() {
            let scene = env.scene_of_row(&ds, rows[k])?;
            let (top, body) = area.split_vertically(24);
            top.draw(&Text::new(with_status(format!("step {}", rows[k] - start), &scene.status), (6, 4), ("sans-serif", 13).into_font()))?;
            super::frame(&body.margin(6, 6, 6, 6), &scene)?;
        }
        root.present().with_context(|| format!("writing {}", out.display()))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    /// A strip and a GIF for one task of each family: real images, not blank canvases, and an
    /// out-of-range demo index is an error naming the episode count.
    #[test]
    fn rollouts_draw_for_every_family() {
        let dir = std::env::temp_dir().join(format!("nf-rl-rollout-{}", std::process::id()));
        plotters::style::register_font("sans-serif", plotters::style::FontStyle::Normal, dejavu::sans::regular()).ok();
        for name in ["pointmaze-medium-stitch", "pointsoccer-arena-stitch", "kinpuzzle-3x3-play", "kincube-double-play", "kinscene-play", "pusht", "multigoal4", "blockpush2", "kitchen2d"] {
            for ext in ["png", "gif"] {
                let out = dir.join(format!("{name}.{ext}"));
                super::show_rollout(name, 1, &out, 0).unwrap();
                let n = std::fs::metadata(&out).unwrap().len();
                assert!(n > 5000, "{}: {n} bytes", out.display());
            }
        }
        let err = super::show_rollout("pointmaze-medium-stitch", 5000, &dir.join("x.png"), 0).unwrap_err().to_string();
        assert!(err.contains("5000 episodes"), "{err}");
        let err = super::show_rollout("pointmaze-umaze-online", 0, &dir.join("x.png"), 0).unwrap_err().to_string();
        assert!(err.contains("no dataset"), "{err}");
        std::fs::remove_dir_all(&dir).ok();
    }
}
