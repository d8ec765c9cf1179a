//! Fits an unconditional 2-D flow to a toy density and writes what it learned:
//! `model.safetensors`, `config.toml`, `density.csv` (200×200 grid of log p over [-4,4]²),
//! `samples.csv` (2,000 samples) and `density.png` (the density with the samples on top).
//!
//! `cargo run --release -p nf-core --example fit2d -- --dist eight-gaussians --steps 5000 --out out/fit2d`

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use candle_core::{DType, Device};
use clap::Parser;
use indicatif::{ProgressBar, ProgressStyle};
use nf_core::optim::{Trainer, WarmupCosine};
use nf_core::toy::{self, Toy2d};
use nf_core::{ConditionalFlow, FlowConfig};
use plotters::prelude::*;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser, Debug)]
#[command(about = "Fit a normalizing flow to a 2-D toy density and draw it")]
struct Args {
    /// eight-gaussians, two-moons or checkerboard
    #[arg(long, default_value = "eight-gaussians")]
    dist: Toy2d,
    #[arg(long, default_value_t = 5000)]
    steps: usize,
    #[arg(long, default_value = "out/fit2d")]
    out: PathBuf,
    #[arg(long, default_value_t = 0)]
    seed: u64,
    #[arg(long, default_value_t = 256)]
    batch: usize,
    #[arg(long, default_value_t = 8)]
    blocks: usize,
    #[arg(long, default_value_t = 128)]
    channels: usize,
    #[arg(long, default_value_t = 1e-3)]
    lr: f64,
    /// Train-time noise σ (the paper's 0.1 is for actions; 0 fits the density itself)
    #[arg(long, default_value_t = 0.0)]
    noise_std: f64,
}

const GRID: usize = 200;
const LIM: f64 = 4.0;

fn main() -> Result<()> {
    // candle 0.11 re-reads /proc/cpuinfo on every matmul unless the thread count is given;
    // set it before any thread starts.
    if std::env::var_os("RAYON_NUM_THREADS").is_none() {
        let n = std::thread::available_parallelism().map_or(1, |n| n.get());
        std::env::set_var("RAYON_NUM_THREADS", n.to_string());
    }
    let args = Args::parse();
    let cfg = FlowConfig { blocks: args.blocks, channels: args.channels, noise_std: args.noise_std, denoise: false, ..FlowConfig::gcbc(2, 0) };
    let flow = ConditionalFlow::new(cfg, args.seed, &Device::Cpu)?;
    let schedule = WarmupCosine { peak: args.lr, warmup: 200.min(args.steps / 10), total: args.steps, floor: 1e-6 };
    let mut trainer = Trainer::new(flow.trainable_vars(), schedule, 1e-6)?;
    let mut rng = ChaCha8Rng::seed_from_u64(args.seed);

    println!("fitting a {}-block flow ({} parameters) to {:?} for {} steps", args.blocks, flow.num_params(), args.dist, args.steps);
    let bar = ProgressBar::new(args.steps as u64);
    bar.set_style(ProgressStyle::with_template("{bar:40} {pos}/{len} {per_sec} eta {eta} {msg}")?);
    let mut ema = f64::NAN;
    toy::fit(&flow, args.dist, &mut trainer, args.steps, args.batch, &mut rng, |step, loss| {
        ema = if ema.is_nan() { loss } else { 0.98 * ema + 0.02 * loss };
        bar.inc(1);
        if step % 50 == 0 {
            bar.set_message(format!("nll {ema:.3}"));
        }
    })
    .with_context(|| format!("training on {:?}", args.dist))?;
    bar.finish();

    let test = toy::samples_tensor(args.dist, &mut rng, 20_000, DType::F32, &Device::Cpu)?;
    let nll = -flow.log_prob(&test, None)?.mean_all()?.to_scalar::<f32>()? as f64;
    let entropy = args.dist.entropy(&mut rng, 200_000);

    std::fs::create_dir_all(&args.out).with_context(|| format!("creating {}", args.out.display()))?;
    flow.save(&args.out)?;
    let grid = toy::density_grid(&flow, GRID, -LIM, LIM)?;
    let mass: f64 = grid.iter().map(|p| p[2].exp()).sum::<f64>() * (2.0 * LIM / GRID as f64).powi(2);
    write_csv(&args.out.join("density.csv"), "x,y,log_prob", grid.iter().map(|p| format!("{},{},{}", p[0], p[1], p[2])))?;
    let samples: Vec<Vec<f32>> = flow.sample_action(None, &mut rng, 2000)?.to_vec2()?;
    write_csv(&args.out.join("samples.csv"), "x,y", samples.iter().map(|s| format!("{},{}", s[0], s[1])))?;
    let title = match entropy {
        Some(h) => format!("{:?}: test NLL {nll:.3} nats (true entropy {h:.3})", args.dist),
        None => format!("{:?}: test NLL {nll:.3} nats", args.dist),
    };
    draw(&args.out.join("density.png"), &grid, &samples, &title)?;

    println!("{title}");
    println!("density mass on the [-4,4]² grid: {mass:.4}");
    println!("wrote model.safetensors, config.toml, density.csv, samples.csv, density.png to {}", args.out.display());
    Ok(())
}

/// Writes through a temp file and a rename, so a killed run never leaves half a CSV.
fn write_csv(path: &Path, header: &str, rows: impl Iterator<Item = String>) -> Result<()> {
    let tmp = path.with_extension("csv.tmp");
    let mut f = std::io::BufWriter::new(std::fs::File::create(&tmp).with_context(|| format!("creating {}", tmp.display()))?);
    writeln!(f, "{header}")?;
    for r in rows {
        writeln!(f, "{r}")?;
    }
    f.into_inner()?.sync_all()?;
    std::fs::rename(&tmp, path).with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

fn draw(path: &Path, grid: &[[f64; 3]], samples: &[Vec<f32>], title: &str) -> Result<()> {
    // plotters' text needs a font; embedding DejaVu avoids any system font dependency.
    plotters::style::register_font("sans-serif", FontStyle::Normal, dejavu::sans::regular()).map_err(|_| anyhow::anyhow!("registering the embedded font"))?;
    let root = BitMapBackend::new(path, (760, 800)).into_drawing_area();
    root.fill(&WHITE)?;
    let mut chart = ChartBuilder::on(&root).caption(title, ("sans-serif", 18)).margin(12).x_label_area_size(30).y_label_area_size(36).build_cartesian_2d(-LIM..LIM, -LIM..LIM)?;
    chart.configure_mesh().disable_mesh().draw()?;
    let pmax = grid.iter().map(|p| p[2].exp()).fold(0.0, f64::max).max(1e-12);
    let h = 2.0 * LIM / GRID as f64;
    chart.draw_series(grid.iter().map(|p| {
        let c = ViridisRGB::get_color((p[2].exp() / pmax).clamp(0.0, 1.0));
        Rectangle::new([(p[0] - h / 2.0, p[1] - h / 2.0), (p[0] + h / 2.0, p[1] + h / 2.0)], c.filled())
    }))?;
    chart.draw_series(samples.iter().map(|s| Circle::new((s[0] as f64, s[1] as f64), 1, RGBColor(255, 120, 60).filled())))?;
    root.present()?;
    Ok(())
}
