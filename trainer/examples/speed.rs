//! Speed probes for `make bench-trainer`: the machine's f32 GEMM roof (candle's matmul on the
//! shapes SmolLM2 training multiplies, and one large square; beside it the trainer's own
//! `matmul_into` on the `gemm` crate and on its AVX-512 kernel when the CPU has one), and forward-only evaluation
//! tokens/s as the valuation's coalition passes run it (`LlamaModel::loss`, no adapter, no
//! gradient). Prints one JSON object.
//!
//! Usage: `speed gemm` | `speed eval --model M.gguf --text T.txt [--seq-len 64 --batch-size 8
//! --windows 32]` (threads from `RAYON_NUM_THREADS`).

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use candle_core::{DType, Device, Tensor};
use clap::{Parser, Subcommand};
use fairshare_trainer::data::{eval_windows, read_texts, tokenize_documents};
use fairshare_trainer::model::gemm::{avx512_available, matmul_into_with, Kernel, Mat};
use fairshare_trainer::model::load_model;

#[derive(Parser)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// f32 GEMM throughput (GFLOP/s) on training-shaped and square products: candle's matmul
    /// (`gflops`), and the trainer's `matmul_into` on the `gemm` crate (`crate_gflops`) and on
    /// its AVX-512 kernel (`avx512_gflops`, absent without AVX-512F).
    Gemm {
        /// Seconds to spend on each shape (at least 3 repetitions).
        #[arg(long, default_value_t = 2.0)]
        seconds: f64,
    },
    /// Forward-only loss evaluation tokens/s on a text.
    Eval {
        #[arg(long)]
        model: PathBuf,
        #[arg(long)]
        text: PathBuf,
        #[arg(long, default_value_t = 64)]
        seq_len: usize,
        #[arg(long, default_value_t = 8)]
        batch_size: usize,
        /// Windows scored (the first ones of the text), a multiple of the batch size.
        #[arg(long, default_value_t = 32)]
        windows: usize,
    },
}

/// Seconds per call of `f`: one warm-up, then at least 3 calls and `seconds` in all.
fn time_per_call(seconds: f64, mut f: impl FnMut() -> Result<()>) -> Result<f64> {
    f()?;
    let t0 = Instant::now();
    let mut reps = 0u32;
    while reps < 3 || t0.elapsed().as_secs_f64() < seconds {
        f()?;
        reps += 1;
    }
    Ok(t0.elapsed().as_secs_f64() / f64::from(reps))
}

fn gemm(seconds: f64) -> Result<serde_json::Value> {
    let dev = Device::Cpu;
    // (m, k, n): 512 rows (batch 4 × seq 128) through SmolLM2's projections and output head.
    let shapes = [
        (512, 576, 576),
        (512, 576, 1536),
        (512, 1536, 576),
        (512, 576, 49152),
        (1024, 1024, 1024),
    ];
    let fast = avx512_available();
    let mut rows = Vec::new();
    let mut roof: f64 = 0.0;
    for (m, k, n) in shapes {
        let a = Tensor::randn(0f32, 1.0, (m, k), &dev)?;
        // Weights are stored (out, in) and multiplied transposed, as the model does.
        let b = Tensor::randn(0f32, 1.0, (n, k), &dev)?;
        let bt = b.t()?;
        let gf = |secs: f64| 2.0 * (m * k * n) as f64 / secs / 1e9;
        let candle = gf(time_per_call(seconds, || {
            a.matmul(&bt)?;
            Ok(())
        })?);
        let (av, bv) = (
            a.flatten_all()?.to_vec1::<f32>()?,
            b.flatten_all()?.to_vec1::<f32>()?,
        );
        let mut dst = vec![0f32; m * n];
        let mut own = |kernel| -> Result<f64> {
            Ok(gf(time_per_call(seconds, || {
                matmul_into_with(
                    &mut dst,
                    Mat::rows(&av, m, k),
                    Mat::rows(&bv, n, k).t(),
                    false,
                    kernel,
                )?;
                Ok(())
            })?))
        };
        let krate = own(Kernel::Crate)?;
        let avx512 = if fast {
            Some(own(Kernel::Avx512)?)
        } else {
            None
        };
        roof = roof.max(candle).max(krate).max(avx512.unwrap_or(0.0));
        rows.push(serde_json::json!({
            "m": m, "k": k, "n": n,
            "gflops": candle, "crate_gflops": krate, "avx512_gflops": avx512,
        }));
    }
    Ok(serde_json::json!({
        "side": "candle", "gemm": rows, "roof_gflops": roof, "avx512": fast,
    }))
}

fn eval(
    model: PathBuf,
    text: PathBuf,
    seq_len: usize,
    batch_size: usize,
    windows: usize,
) -> Result<serde_json::Value> {
    if batch_size == 0 || windows == 0 || !windows.is_multiple_of(batch_size) {
        bail!("--windows must be a positive multiple of --batch-size");
    }
    let loaded = load_model(&model, DType::F32, &Device::Cpu)
        .with_context(|| format!("cannot load {}", model.display()))?;
    let docs = read_texts(&text).with_context(|| format!("cannot read {}", text.display()))?;
    let tokens = tokenize_documents(&docs, &loaded.tokenizer, None)?;
    let all = eval_windows(&tokens, seq_len);
    let full: Vec<&Vec<u32>> = all.iter().filter(|w| w.len() == seq_len + 1).collect();
    if full.len() < windows {
        bail!("the text has only {} full windows", full.len());
    }
    let m = &loaded.model;
    let mut losses = Vec::new();
    let t0 = Instant::now();
    for chunk in full[..windows].chunks(batch_size) {
        let flat: Vec<u32> = chunk.iter().flat_map(|w| w.iter().copied()).collect();
        let batch = Tensor::from_vec(flat, (chunk.len(), seq_len + 1), &Device::Cpu)?;
        losses.push(m.loss(&batch, None, None)?.to_scalar::<f32>()? as f64);
    }
    let secs = t0.elapsed().as_secs_f64();
    let mean = losses.iter().sum::<f64>() / losses.len() as f64;
    Ok(serde_json::json!({
        "side": "candle",
        "eval_tokens_per_sec": (windows * seq_len) as f64 / secs,
        "mean_loss": mean,
        "windows": windows,
        "seq_len": seq_len,
        "batch_size": batch_size,
    }))
}

fn main() -> Result<()> {
    let out = match Cli::parse().command {
        Command::Gemm { seconds } => gemm(seconds)?,
        Command::Eval {
            model,
            text,
            seq_len,
            batch_size,
            windows,
        } => eval(model, text, seq_len, batch_size, windows)?,
    };
    println!("{out}");
    Ok(())
}
