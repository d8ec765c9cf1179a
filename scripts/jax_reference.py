#!/usr/bin/env python3
"""The JAX anchor of `cargo xtask perf --compare`: one jit-compiled training step of the same
models as nf-rl's, timed on the CPU.

Each model is written here with plain `jax` + `jax.numpy` (no flax, no optax: Adam and AdamW are
a few lines below), with the layer order, widths and ops of the Rust code it mirrors:

- `nf-gcbc`: `crates/nf-algos/src/nf_gcbc.rs` at its defaults (obs 29, action 8, condition
  `[s, g]`): encoder 4×512 `Linear → LayerNorm → SiLU → Linear 64`; 6 blocks of a PLU map
  `x ← x·W`, `W = P·L·U` formed from the parameters every step, then an affine coupling whose S
  and T nets are `Linear(4+64 → 320) → LeakyReLU → LayerNorm → Linear(320 → 256) → LeakyReLU →
  LayerNorm → Linear(256 → 4)`; loss `−mean log p(a + 0.1ε | enc([s, g]))`; AdamW (wd 1e-6) on
  the warm-up cosine schedule.
- `nf-rlbc`: `crates/nf-algos/src/nf_rlbc.rs` at its defaults: the same flow (condition s, no
  noise) as the actor, two critics `4×512 Dense → GELU → LayerNorm → 1` on `[s, a]` and their
  targets; TD loss with `a' ~ π(·|s')` from the flow's inverse (`W⁻¹ = U⁻¹·L⁻¹·Pᵀ`), actor loss
  `−min Q(s, a_π) + α·NLL(a|s) + λ·log π(a_π|s)` with the critics frozen in it, Adam 1e-4 on
  each, Polyak 0.005 on the targets.
- `gcbc`: `crates/baselines/src/gcbc.rs` at its defaults: MLP 3×512 `Dense → GELU → LayerNorm`
  on `[s, g]` → 8, unit-Gaussian NLL, Adam 3e-4.
- `nf-gcbc-quick`: NF-GCBC at the quick suite's config (the `[experiment.agent.nf-gcbc]` table
  of the first experiment of `benchmarks/quick.toml`, read from the file) on
  `pointmaze-medium-navigate`'s dimensions (`--quick-dims`, which `cargo xtask perf --compare`
  passes from the task registry).

Timing: the step is compiled and run `--warmup` times, then each of `--steps` steps is timed to
`block_until_ready`; the figure is the median, in milliseconds. Parameter initialisation does
not matter for the time and is only kept finite. XLA's CPU thread pool spans the cores this
process may run on; `--threads N` pins the process to N of them before JAX starts.

Install JAX (CPU) with `python3 -m pip install 'jax[cpu]'`. CI does not need it.

    python3 scripts/jax_reference.py                      # all four models, a readable table
    python3 scripts/jax_reference.py --models nf-gcbc,gcbc --steps 50 --json
"""

import argparse
import json
import math
import os
import statistics
import sys
import time
import tomllib
from pathlib import Path

MODELS = ["nf-gcbc", "nf-rlbc", "gcbc", "nf-gcbc-quick"]
# The 29-D / 8-D antmaze the paper's sizes were set for (as in xtask/benches/agents.rs).
PAPER_OBS, PAPER_ACT = 29, 8
REPO = Path(__file__).resolve().parent.parent

# NfGcbcConfig::default() (crates/nf-algos/src/nf_gcbc.rs); the quick suite's table overrides it.
NF_GCBC_DEFAULTS = {
    "blocks": 6,
    "channels": 256,
    "widen_first_layer": True,
    "encoder_hidden": [512] * 4,
    "rep": 64,
    "noise_std": 0.1,
    "denoise": True,
    "lr": 3e-4,
    "weight_decay": 1e-6,
    "warmup": 500,
    "lr_floor": 1e-6,
    "schedule_steps": 1_000_000,
    "gamma": 0.97,
}
# NfRlbcConfig::default() (crates/nf-algos/src/nf_rlbc.rs).
NF_RLBC = {"blocks": 6, "channels": 256, "widen_first_layer": True, "encoder_hidden": [512] * 4, "rep": 64, "critic_hidden": [512] * 4, "lr": 1e-4, "discount": 0.995, "tau": 0.005, "alpha": 1.0, "lambda": 0.0}
# GcbcConfig::default() (crates/baselines/src/gcbc.rs).
GCBC = {"hidden": [512] * 3, "lr": 3e-4}
# FlowConfig::gcbc (crates/nf-core/src/config.rs): flax's defaults.
LEAKY_SLOPE, LN_EPS = 0.01, 1e-6


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--models", default=",".join(MODELS), help=f"comma-separated, from {', '.join(MODELS)} (default: all)")
    p.add_argument("--steps", type=int, default=30, help="timed steps per model (default 30)")
    p.add_argument("--warmup", type=int, default=3, help="untimed steps after compilation (default 3)")
    p.add_argument("--batch", type=int, default=256, help="batch size (default 256)")
    p.add_argument("--json", action="store_true", help="one JSON object per model and line: name, ms_per_step, jax, device, threads, steps, batch")
    p.add_argument("--quick-suite", type=Path, default=REPO / "benchmarks" / "quick.toml", help="the suite whose first experiment's nf-gcbc table sizes nf-gcbc-quick")
    p.add_argument("--quick-dims", default="2,2", help="OBS,ACT of the quick experiment's task (default 2,2: pointmaze-medium-navigate)")
    p.add_argument("--threads", type=int, help="pin the process to this many cores (default: every core it may use)")
    args = p.parse_args()
    args.models = [m.strip() for m in args.models.split(",") if m.strip()]
    unknown = [m for m in args.models if m not in MODELS]
    if unknown or not args.models:
        p.error(f"--models: unknown {unknown or 'empty list'}; valid models: {', '.join(MODELS)}")
    try:
        obs, act = (int(v) for v in args.quick_dims.split(","))
        args.quick_dims = (obs, act)
    except ValueError:
        p.error(f"--quick-dims: expected OBS,ACT (two integers), got `{args.quick_dims}`")
    if args.steps < 1 or args.batch < 1 or args.warmup < 0:
        p.error("--steps and --batch must be at least 1, --warmup at least 0")
    return args


def quick_nf_gcbc(path):
    """NF-GCBC's config in the first experiment of the quick suite, over the defaults."""
    with open(path, "rb") as f:
        suite = tomllib.load(f)
    try:
        exp = suite["experiment"][0]
    except (KeyError, IndexError):
        sys.exit(f"{path}: no [[experiment]]")
    if "nf-gcbc" not in exp.get("agents", []):
        sys.exit(f"{path}: the first experiment does not run nf-gcbc (agents: {exp.get('agents')})")
    table = exp.get("agent", {}).get("nf-gcbc", {})
    unknown = sorted(set(table) - set(NF_GCBC_DEFAULTS))
    if unknown:
        sys.exit(f"{path}: [experiment.agent.nf-gcbc] has keys {unknown} this script does not know; known: {sorted(NF_GCBC_DEFAULTS)}")
    cfg = {**NF_GCBC_DEFAULTS, **table}
    # NfGcbcConfig::fit_budget: the cosine spans the run unless the table sets it.
    if "schedule_steps" not in table:
        cfg["schedule_steps"] = exp["steps"]
    return cfg


def main():
    args = parse_args()
    if args.threads is not None:
        cpus = sorted(os.sched_getaffinity(0))
        if not 1 <= args.threads <= len(cpus):
            sys.exit(f"--threads {args.threads}: this process may use {len(cpus)} cores")
        os.sched_setaffinity(0, cpus[: args.threads])
    try:
        import jax  # noqa: F401  (imported after the affinity is set: XLA sizes its pool once)
    except ImportError:
        sys.exit("jax is not installed; install the CPU build with: python3 -m pip install 'jax[cpu]'")
    jax.config.update("jax_platforms", "cpu")
    threads = len(os.sched_getaffinity(0))
    builders = {
        "nf-gcbc": lambda: nf_gcbc_step(NF_GCBC_DEFAULTS, PAPER_OBS, PAPER_ACT, args.batch),
        "nf-rlbc": lambda: nf_rlbc_step(NF_RLBC, PAPER_OBS, PAPER_ACT, args.batch),
        "gcbc": lambda: gcbc_step(GCBC, PAPER_OBS, PAPER_ACT, args.batch),
        "nf-gcbc-quick": lambda: nf_gcbc_step(quick_nf_gcbc(args.quick_suite), *args.quick_dims, args.batch),
    }
    if not args.json:
        print(f"jax {jax.__version__} on {jax.devices()[0].device_kind}, {threads} threads, batch {args.batch}, median of {args.steps} steps")
    for name in args.models:
        ms = time_step(*builders[name](), args.steps, args.warmup)
        if args.json:
            print(json.dumps({"name": name, "ms_per_step": ms, "jax": jax.__version__, "device": jax.devices()[0].device_kind, "threads": threads, "steps": args.steps, "batch": args.batch}), flush=True)
        else:
            print(f"{name:16} {ms:9.2f} ms/step", flush=True)


def time_step(step, state, batch, steps, warmup):
    """Median wall time of `state = step(*state, batch, key)` in ms, after compilation and warm-up."""
    import jax

    key = jax.random.PRNGKey(0)

    def one(state, key):
        key, sub = jax.random.split(key)
        out = step(*state, batch, sub)
        jax.block_until_ready(out)
        return out[:-1], key

    for _ in range(1 + warmup):  # the first call compiles
        state, key = one(state, key)
    times = []
    for _ in range(steps):
        t0 = time.perf_counter()
        state, key = one(state, key)
        times.append(time.perf_counter() - t0)
    return 1e3 * statistics.median(times)


# ---------------------------------------------------------------------------------------------
# Layers (weights `[in, out]`; the Rust `[out, in]` layout is a transpose XLA folds away).


def dense_init(key, fan_in, out, zero=False):
    import jax
    import jax.numpy as jnp

    if zero:
        return {"w": jnp.zeros((fan_in, out), jnp.float32), "b": jnp.zeros((out,), jnp.float32)}
    return {"w": jax.random.normal(key, (fan_in, out), jnp.float32) / math.sqrt(fan_in), "b": jnp.zeros((out,), jnp.float32)}


def ln_init(dim):
    import jax.numpy as jnp

    return {"g": jnp.ones((dim,), jnp.float32), "b": jnp.zeros((dim,), jnp.float32)}


def dense(p, x):
    return x @ p["w"] + p["b"]


def layer_norm(p, x, eps=LN_EPS):
    import jax.numpy as jnp

    mu = jnp.mean(x, axis=-1, keepdims=True)
    var = jnp.mean(jnp.square(x - mu), axis=-1, keepdims=True)
    return (x - mu) / jnp.sqrt(var + eps) * p["g"] + p["b"]


def leaky_relu(x):
    import jax.numpy as jnp

    return jnp.where(x > 0, x, LEAKY_SLOPE * x)


def gelu(x):
    import jax

    return jax.nn.gelu(x, approximate=True)  # the tanh form, as nf-core's `gelu`


def mlp_init(key, fan_in, hidden, out):
    """`Mlp` (crates/nf-core/src/mlp.rs) with LayerNorm: hidden layers then the output layer."""
    import jax

    keys = jax.random.split(key, len(hidden) + 1)
    layers, f = [], fan_in
    for k, h in zip(keys, hidden):
        layers.append({"dense": dense_init(k, f, h), "norm": ln_init(h)})
        f = h
    return {"layers": layers, "out": dense_init(keys[-1], f, out)}


def mlp(p, x):
    """`Dense → GELU → LayerNorm` per hidden layer, then `Dense` (the critics' and GCBC's order)."""
    for layer in p["layers"]:
        x = layer_norm(layer["norm"], gelu(dense(layer["dense"], x)))
    return dense(p["out"], x)


# ---------------------------------------------------------------------------------------------
# The conditional flow (crates/nf-core: flow.rs, linear.rs, coupling.rs, nn.rs).


def flow_init(key, cfg, dim, cond_dim):
    """Parameters and fixed buffers (the permutations) of `ConditionalFlow`."""
    import jax
    import jax.numpy as jnp
    import numpy as np

    k_enc, k_blocks = jax.random.split(key)
    enc_keys = jax.random.split(k_enc, len(cfg["encoder_hidden"]) + 1)
    layers, f = [], cond_dim
    for k, h in zip(enc_keys, cfg["encoder_hidden"]):
        layers.append({"dense": dense_init(k, f, h), "norm": ln_init(h)})
        f = h
    encoder = {"layers": layers, "out": dense_init(enc_keys[-1], f, cfg["rep"])}
    split, trans = (0, 1) if dim == 1 else ((dim + 1) // 2, dim // 2)
    rep, ch = cfg["rep"], cfg["channels"]
    first = ch + rep if cfg["widen_first_layer"] else ch

    def net(k):
        k1, k2 = jax.random.split(k)
        return {"l1": dense_init(k1, split + rep, first), "n1": ln_init(first), "l2": dense_init(k2, first, ch), "n2": ln_init(ch), "l3": dense_init(None, ch, trans, zero=True)}

    blocks, perms = [], []
    rng = np.random.default_rng(0)
    for k in jax.random.split(k_blocks, cfg["blocks"]):
        ks, kt, kl, ku = jax.random.split(k, 4)
        blocks.append(
            {
                "lower": 0.1 * jax.random.normal(kl, (dim, dim), jnp.float32),
                "upper": 0.1 * jax.random.normal(ku, (dim, dim), jnp.float32),
                "diag": jnp.ones((dim,), jnp.float32),
                "s": net(ks),
                "t": net(kt),
            }
        )
        perms.append(jnp.asarray(np.eye(dim, dtype=np.float32)[rng.permutation(dim)]))
    return {"encoder": encoder, "blocks": blocks}, {"perm": perms, "split": split}


def encode(enc, c):
    """`k × [Linear → LayerNorm → SiLU] → Linear(rep)` (`nn.rs::Encoder`)."""
    import jax

    for layer in enc["layers"]:
        c = jax.nn.silu(layer_norm(layer["norm"], dense(layer["dense"], c)))
    return dense(enc["out"], c)


def coupling_net(p, x):
    """`Linear → LeakyReLU → LayerNorm → Linear → LeakyReLU → LayerNorm → Linear` (`CouplingNet`)."""
    h = layer_norm(p["n1"], leaky_relu(dense(p["l1"], x)))
    h = layer_norm(p["n2"], leaky_relu(dense(p["l2"], h)))
    return dense(p["l3"], h)


def plu(b, perm):
    """`(P·L·U, L, U)` with L unit lower and U upper triangular with diagonal s (`InvertibleLinear`)."""
    import jax.numpy as jnp

    d = b["diag"].shape[0]
    eye = jnp.eye(d, dtype=jnp.float32)
    lower = jnp.tril(b["lower"], -1) + eye
    upper = jnp.triu(b["upper"], 1) + jnp.diag(b["diag"])
    return perm @ lower @ upper, lower, upper


def scale_shift(b, split, x_cond, rep):
    import jax.numpy as jnp

    inp = jnp.concatenate([x_cond, rep], axis=1)
    return coupling_net(b["s"], inp), coupling_net(b["t"], inp)


def flow_log_prob(params, bufs, x, cond):
    """`log p(x | cond) = log N(f(x)) + log|det ∂f/∂x|`, per row (`ConditionalFlow::log_prob`)."""
    import jax.numpy as jnp

    rep = encode(params["encoder"], cond)
    split = bufs["split"]
    h, logdet = x, jnp.zeros((x.shape[0],), jnp.float32)
    for b, perm in zip(params["blocks"], bufs["perm"]):
        w, _, _ = plu(b, perm)
        h = h @ w
        logdet = logdet + jnp.sum(jnp.log(jnp.abs(b["diag"])))
        x_cond, x_trans = h[:, :split], h[:, split:]
        s, t = scale_shift(b, split, x_cond, rep)
        h = jnp.concatenate([x_cond, (x_trans - t) * jnp.exp(-s)], axis=1)
        logdet = logdet - jnp.sum(s, axis=-1)
    d = x.shape[1]
    return -0.5 * jnp.sum(jnp.square(h), axis=-1) - 0.5 * d * math.log(2 * math.pi) + logdet


def flow_sample_and_log_prob(params, bufs, z, cond):
    """`x = f⁻¹(z)` and `log π(x) = log N(z) − log|det ∂x/∂z|` from one inverse pass."""
    import jax.numpy as jnp
    from jax.scipy.linalg import solve_triangular

    rep = encode(params["encoder"], cond)
    split = bufs["split"]
    h, logdet = z, jnp.zeros((z.shape[0],), jnp.float32)
    for b, perm in reversed(list(zip(params["blocks"], bufs["perm"]))):
        z_cond, z_trans = h[:, :split], h[:, split:]
        s, t = scale_shift(b, split, z_cond, rep)
        h = jnp.concatenate([z_cond, z_trans * jnp.exp(s) + t], axis=1)
        logdet = logdet + jnp.sum(s, axis=-1)
        _, lower, upper = plu(b, perm)
        eye = jnp.eye(lower.shape[0], dtype=jnp.float32)
        w_inv = solve_triangular(upper, eye, lower=False) @ solve_triangular(lower, eye, lower=True, unit_diagonal=True) @ perm.T
        h = h @ w_inv
        logdet = logdet - jnp.sum(jnp.log(jnp.abs(b["diag"])))
    d = z.shape[1]
    return h, -0.5 * jnp.sum(jnp.square(z), axis=-1) - 0.5 * d * math.log(2 * math.pi) - logdet


# ---------------------------------------------------------------------------------------------
# Optimisers (crates/nf-core/src/optim.rs).


def adam_init(params):
    import jax
    import jax.numpy as jnp

    # Two trees of their own buffers: the step donates its state.
    return {"m": jax.tree_util.tree_map(jnp.zeros_like, params), "v": jax.tree_util.tree_map(jnp.zeros_like, params), "t": jnp.zeros((), jnp.int32)}


def adamw(params, grads, opt, lr, wd=0.0, b1=0.9, b2=0.999, eps=1e-8):
    """`AdamW::step`: bias-corrected moments, decoupled weight decay `θ·(1 − lr·wd)`."""
    import jax
    import jax.numpy as jnp

    t = opt["t"] + 1
    c1 = 1 - b1 ** t.astype(jnp.float32)
    c2 = 1 - b2 ** t.astype(jnp.float32)
    m = jax.tree_util.tree_map(lambda m, g: b1 * m + (1 - b1) * g, opt["m"], grads)
    v = jax.tree_util.tree_map(lambda v, g: b2 * v + (1 - b2) * g * g, opt["v"], grads)
    new = jax.tree_util.tree_map(lambda p, m, v: p * (1 - lr * wd) - lr * (m / c1) / (jnp.sqrt(v / c2) + eps), params, m, v)
    return new, {"m": m, "v": v, "t": t}


def warmup_cosine(step, peak, warmup, total, floor):
    """`WarmupCosine::lr`: linear warm-up from 0, then cosine to `floor` at `total`."""
    import jax.numpy as jnp

    s = step.astype(jnp.float32)
    t = jnp.minimum((s - warmup) / max(total - warmup, 1), 1.0)
    cos = floor + 0.5 * (peak - floor) * (1 + jnp.cos(math.pi * t))
    return jnp.where(s < warmup, peak * s / max(warmup, 1), cos)


def random_batch(key, n, fields):
    import jax

    keys = jax.random.split(key, len(fields))
    return {name: jax.random.uniform(k, shape, minval=-1.0, maxval=1.0) for k, (name, shape) in zip(keys, fields.items())}


# ---------------------------------------------------------------------------------------------
# The training steps: each returns (jitted step, initial state tuple, batch).
# A step is `(*state, batch, key) -> (*new_state, loss)`.


def nf_gcbc_step(cfg, obs, act, n):
    """`NfGcbc::update` + `Trainer::step`."""
    import jax

    params, bufs = flow_init(jax.random.PRNGKey(1), cfg, act, 2 * obs)
    batch = random_batch(jax.random.PRNGKey(2), n, {"obs": (n, obs), "goals": (n, obs), "actions": (n, act)})
    sched = (cfg["lr"], cfg["warmup"], cfg["schedule_steps"], cfg["lr_floor"])

    def loss_fn(params, x, cond):
        return -flow_log_prob(params, bufs, x, cond).mean()

    def step(params, opt, batch, key):
        cond = jax.numpy.concatenate([batch["obs"], batch["goals"]], axis=1)
        x = batch["actions"] + cfg["noise_std"] * jax.random.normal(key, batch["actions"].shape)
        loss, grads = jax.value_and_grad(loss_fn)(params, x, cond)
        lr = warmup_cosine(opt["t"] + 1, *sched)
        params, opt = adamw(params, grads, opt, lr, cfg["weight_decay"])
        return params, opt, loss

    return jax.jit(step, donate_argnums=(0, 1)), (params, adam_init(params)), batch


def nf_rlbc_step(cfg, obs, act, n):
    """`NfRlbc::update`: critic TD term, actor term, one Adam each, Polyak on the targets."""
    import jax
    import jax.numpy as jnp

    k_actor, k_c0, k_c1 = jax.random.split(jax.random.PRNGKey(1), 3)
    actor, bufs = flow_init(k_actor, cfg, act, obs)
    critics = [mlp_init(k, obs + act, cfg["critic_hidden"], 1) for k in (k_c0, k_c1)]
    targets = jax.tree_util.tree_map(lambda x: x.copy(), critics)
    batch = random_batch(jax.random.PRNGKey(2), n, {"obs": (n, obs), "next_obs": (n, obs), "actions": (n, act), "rewards": (n,)})
    batch["masks"] = jnp.ones((n,), jnp.float32)

    def q(nets, s, a):
        x = jnp.concatenate([s, a], axis=-1)
        return [mlp(p, x)[:, 0] for p in nets]

    def sample_clipped(actor, s, key):
        z = jax.random.normal(key, (s.shape[0], act))
        a, logp = flow_sample_and_log_prob(actor, bufs, z, s)
        return jnp.clip(a, -1.0, 1.0), logp

    def critic_loss(critics, s, a, y):
        q0, q1 = q(critics, s, a)
        return 0.5 * (jnp.mean(jnp.square(q0 - y)) + jnp.mean(jnp.square(q1 - y)))

    def actor_loss(actor, critics, s, a, key):
        a_pi, logp_pi = sample_clipped(actor, s, key)
        p0, p1 = q(critics, s, a_pi)
        q_pi = jnp.mean(jnp.minimum(p0, p1))
        bc = -jnp.mean(flow_log_prob(actor, bufs, a, s))
        return -q_pi + cfg["alpha"] * bc + cfg["lambda"] * jnp.mean(logp_pi)

    def step(actor, critics, targets, actor_opt, critic_opt, batch, key):
        k_next, k_pi = jax.random.split(key)
        s, s2, a = batch["obs"], batch["next_obs"], batch["actions"]
        a2, _ = sample_clipped(actor, s2, k_next)
        t0, t1 = q(targets, s2, jax.lax.stop_gradient(a2))
        y = jax.lax.stop_gradient(batch["rewards"] + cfg["discount"] * batch["masks"] * jnp.minimum(t0, t1))
        c_loss, g_critic = jax.value_and_grad(critic_loss)(critics, s, a, y)
        # Gradients of the actor term w.r.t. the actor only: the critics are frozen in it.
        a_loss, g_actor = jax.value_and_grad(actor_loss)(actor, critics, s, a, k_pi)
        new_critics, critic_opt = adamw(critics, g_critic, critic_opt, cfg["lr"])
        actor, actor_opt = adamw(actor, g_actor, actor_opt, cfg["lr"])
        targets = jax.tree_util.tree_map(lambda t, c: (1 - cfg["tau"]) * t + cfg["tau"] * c, targets, new_critics)
        return actor, new_critics, targets, actor_opt, critic_opt, c_loss + a_loss

    state = (actor, critics, targets, adam_init(actor), adam_init(critics))
    return jax.jit(step, donate_argnums=(0, 1, 2, 3, 4)), state, batch


def gcbc_step(cfg, obs, act, n):
    """`Gcbc::update`: unit-Gaussian NLL of the MLP's mean, Adam."""
    import jax
    import jax.numpy as jnp

    params = mlp_init(jax.random.PRNGKey(1), 2 * obs, cfg["hidden"], act)
    batch = random_batch(jax.random.PRNGKey(2), n, {"obs": (n, obs), "goals": (n, obs), "actions": (n, act)})

    def loss_fn(params, x, a):
        mu = mlp(params, x)
        return jnp.mean(0.5 * jnp.sum(jnp.square(a - mu), axis=1)) + 0.5 * act * math.log(2 * math.pi)

    def step(params, opt, batch, key):
        del key  # GCBC draws no noise
        x = jnp.concatenate([batch["obs"], batch["goals"]], axis=1)
        loss, grads = jax.value_and_grad(loss_fn)(params, x, batch["actions"])
        params, opt = adamw(params, grads, opt, cfg["lr"])
        return params, opt, loss

    return jax.jit(step, donate_argnums=(0, 1)), (params, adam_init(params)), batch


if __name__ == "__main__":
    main()
