"""The STDP window of a run: ΔW against Δt from the training log and from the pairing protocol.

Reads what :class:`~eqspike.plasticity.stdp_log.STDPLogger` stored in a run file, bins the
changes by Δt = t_post − t_pre (mean ± s.e.m. per bin, over every logged change of every
epoch), fits the two exponential branches of the classic STDP window (Bi & Poo 1998; Song,
Miller & Abbott 2000)

    ΔW(Δt) = A₊ exp(−Δt / τ₊)   for Δt > 0,        ΔW(Δt) = A₋ exp(Δt / τ₋)   for Δt < 0,

(A₋ keeps its sign: negative for depression) with :func:`scipy.optimize.curve_fit`, and
writes figures and tables. :func:`plasticity_report` is what ``eqspike plasticity RUN.h5``
runs.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from .. import runfile
from ..parameters import edge_name

__all__ = ["load_log", "binned_window", "fit_exponentials", "describe_fit",
           "plasticity_report", "bi_poo_window", "compare_windows", "MIN_EXPLAINED"]

#: Bi & Poo (1998) in the form of Bi & Poo (2001, Annu. Rev. Neurosci. 24:139), their fit to
#: the hippocampal-culture data: τ₊ = 16.8 ms, τ₋ = 33.7 ms, and a depression amplitude
#: about half the potentiation's (A₋/A₊ = −0.51). Drawn in steps of dt_ms.
BI_POO = {"tau_plus_ms": 16.8, "tau_minus_ms": 33.7, "a_minus_over_a_plus": -0.51}

SIGNS = ("negative", "positive")      # σ = −1 (free window or −β), σ = +1 (+β)
DT_KINDS = ("nearest", "last")


def load_log(path) -> dict:
    """The STDP log of a run file: ``selection`` [(pre, post)], ``attrs`` and ``epochs``
    (name → the epoch's group); :class:`~eqspike.runfile.RunFileError` if there is none."""
    group = runfile.read_group(path, "plasticity")
    if group is None:
        raise runfile.RunFileError(f"{path}: this run has no STDP log (train with "
                                   "eqspike train --log-synapses N)")
    pairs = len([k for k in group if k.startswith("pre_")])
    selection = [(group[f"pre_{k}"], group[f"post_{k}"]) for k in range(pairs)]
    epochs = {k: v for k, v in sorted(group.items()) if k.startswith("epoch_")}
    if not epochs:
        raise runfile.RunFileError(f"{path}: the STDP log has no finished epoch yet")
    return {"selection": selection, "attrs": group["attrs"], "epochs": epochs}


def binned_window(window: np.ndarray, dt_range: int, dt_kind: str = "nearest") -> dict:
    """Mean ± s.e.m. of ΔW per Δt bin from summed window statistics (2, 2, B, 3).

    Returns ``dt`` (−R..R) and, for ``net`` (both signs), ``negative`` and ``positive``:
    ``count``, ``mean``, ``sem`` (NaN where a bin is empty) and ``total`` (ΣΔW).
    """
    stats = window[DT_KINDS.index(dt_kind)][:, :-1]        # (2 signs, 2R+1 bins, 3)
    out = {"dt": np.arange(-dt_range, dt_range + 1)}
    for name, s in (("negative", stats[0]), ("positive", stats[1]),
                    ("net", stats[0] + stats[1])):
        count, total, squares = s[:, 0], s[:, 1], s[:, 2]
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = total / count
            var = np.maximum(squares / count - mean ** 2, 0.0) * count / np.maximum(count - 1, 1)
            sem = np.sqrt(var / count)
        out[name] = {"count": count, "mean": mean, "sem": sem, "total": total}
    return out


def _branch(dt, amplitude, tau):
    return amplitude * np.exp(-np.abs(dt) / tau)


#: A fit is reported only if each parameter's standard error is below its value and the
#: branch explains at least this fraction of the kernel's squared size (R² about zero,
#: 1 − Σ(y − f)² / Σy²): an exponential cannot describe a kernel that changes sign.
MIN_EXPLAINED = 0.5


def fit_exponentials(dt, mean, sem=None) -> dict:
    """Fit A₊ exp(−Δt/τ₊) to Δt > 0 and A₋ exp(Δt/τ₋) to Δt < 0; Δt = 0 is left out.

    Returns, per branch (``plus``, ``minus``): ``fitted`` (bool) and ``note`` (why not, or
    ""), ``A``, ``tau``, their standard errors ``A_err``, ``tau_err`` (from the covariance;
    weighted by ``sem`` where it is positive), ``r2`` (the share of Σy² the fit explains),
    ``n`` bins used, and the measured kernel (``dt``, ``values``). A branch is *not fitted*
    when it has fewer than 3 finite bins or only zeros, when the fit does not converge, when
    the kernel changes sign (an exponential cannot), when ``r2`` < :data:`MIN_EXPLAINED` or
    when a standard error is not below its value; then only its measured values are meant
    to be read.
    """
    from scipy.optimize import curve_fit

    dt, mean = np.asarray(dt, float), np.asarray(mean, float)
    sem = np.zeros_like(mean) if sem is None else np.asarray(sem, float)
    out = {}
    for name, side in (("plus", dt > 0), ("minus", dt < 0)):
        use = side & np.isfinite(mean)
        x, y = dt[use], mean[use]
        result = {"A": np.nan, "tau": np.nan, "A_err": np.nan, "tau_err": np.nan,
                  "r2": np.nan, "n": int(use.sum()), "fitted": False, "dt": x, "values": y,
                  "note": "fewer than 3 bins with changes"}
        if use.sum() >= 3 and np.any(y != 0):
            weighted = np.all(sem[use] > 0)
            nearest = np.argmin(np.abs(x))
            p0 = (y[nearest] * np.exp(abs(x[nearest]) / 5.0), 5.0)
            try:
                params, cov = curve_fit(_branch, x, y, p0=p0,
                                        sigma=sem[use] if weighted else None,
                                        absolute_sigma=weighted, maxfev=20000,
                                        bounds=([-np.inf, 1e-3], [np.inf, 1e4]))
            except (RuntimeError, ValueError) as exc:
                result["note"] = f"the fit did not converge ({type(exc).__name__})"
            else:
                errors = np.sqrt(np.abs(np.diag(cov)))
                r2 = 1.0 - np.sum((y - _branch(x, *params)) ** 2) / np.sum(y ** 2)
                result.update(A=params[0], tau=params[1], A_err=errors[0],
                              tau_err=errors[1], r2=r2)
                result["note"] = _fit_problem(params, errors, r2, y, sem[use])
                result["fitted"] = not result["note"]
        out[name] = result
    return out


def _fit_problem(params, errors, r2, y, sem) -> str:
    """Why a converged fit is not a result ("" if it is one): the kernel changes sign (an
    exponential has one: a value of the other sign above a tenth of the largest and, where
    s.e.m. are known, above two of them), the fit explains too little of it, or a standard
    error is not below its value."""
    sizable = (np.abs(y) > 0.1 * np.max(np.abs(y))) & ((sem <= 0) | (np.abs(y) > 2 * sem))
    if np.any(sizable & (np.sign(y) == -np.sign(params[0]))):
        return "the kernel changes sign; an exponential has one"
    if r2 < MIN_EXPLAINED:
        return f"an exponential explains {max(r2, 0.0):.0%} of the kernel"
    if not np.all(np.isfinite(errors)) or np.any(errors >= np.abs(params)):
        return "standard errors not below the values"
    return ""


def describe_fit(branch: dict, sign: str, kernel_bins: int = 4) -> str:
    """One branch of :func:`fit_exponentials` as text: ``A± value ± err, τ± ...`` when
    fitted, else ``not fitted (why); ΔW at Δt = ...`` with the first measured values."""
    if branch["fitted"]:
        return (f"A{sign} {branch['A']:+.3e} ± {branch['A_err']:.1e}  "
                f"τ{sign} {branch['tau']:6.2f} ± {branch['tau_err']:.2f}")
    order = np.argsort(np.abs(branch["dt"]))[:kernel_bins]
    values = ", ".join(f"{int(branch['dt'][i]):+d}: {branch['values'][i]:+.1e}"
                       for i in order)
    return f"{sign}: not fitted ({branch['note']}); ΔW at Δt {values}"


def bi_poo_window(dt_steps, dt_ms: float = 1.0) -> np.ndarray:
    """The Bi & Poo (1998) window shape at Δt (steps of ``dt_ms``), A₊ = 1 (:data:`BI_POO`)."""
    t = np.asarray(dt_steps, float) * dt_ms
    plus = np.exp(-t / BI_POO["tau_plus_ms"])
    minus = BI_POO["a_minus_over_a_plus"] * np.exp(t / BI_POO["tau_minus_ms"])
    return np.where(t > 0, plus, np.where(t < 0, minus, 0.0))


def compare_windows(paths, out_png, pairings: int = 5, dt_kind: str = "nearest") -> dict:
    """One figure of several runs' STDP windows (each run's rule: the training window per
    layer pair, and the pairing protocol, post rate up and down), normalised, beside the
    Bi & Poo (1998) shape; the numbers go to a CSV beside ``out_png``. Returns, per run,
    the fits of its training windows and of its protocol (``fit_exponentials``)."""
    from ..figures import subplots

    from .pairing import pairing_window

    fig, axes = subplots(1, 2, figsize=(12.5, 4.6))
    out, columns, header = {}, [], []
    for r, path in enumerate(paths):
        run, log = runfile.read_run(path), load_log(path)
        spec = run.spec
        dt_range = int(log["attrs"]["dt_range"])
        epochs = list(log["epochs"].values())
        label = f"{Path(path).stem} ({spec.learning.rule})"
        names = [edge_name(e) for e in spec.edges]
        fits = {}
        for k in range(len(log["selection"])):
            w = binned_window(sum(e[f"window_{k}"] for e in epochs), dt_range, dt_kind)
            y, scale = _normalised(w["net"]["mean"])
            axes[0].errorbar(w["dt"], y, yerr=w["net"]["sem"] / scale, fmt="o-", ms=2.5,
                             lw=1, capsize=1.5, color=f"C{2 * r + k}",
                             label=f"{label}, {names[k]}")
            fits[f"{names[k]}"] = fit_exponentials(w["dt"], w["net"]["mean"],
                                                      w["net"]["sem"])
            header += [f"{label} {names[k]} mean", f"{label} {names[k]} sem"]
            columns += [w["net"]["mean"], w["net"]["sem"]]
        offsets = range(-dt_range, dt_range + 1)
        for change, style in (("increase", "-"), ("decrease", ":")):
            proto = pairing_window(spec, offsets, pairings, post_change=change)
            y, _ = _normalised(proto["mean"])
            axes[1].plot(proto["dt"], y, style, lw=1.8, color=f"C{2 * r}",
                         label=f"{spec.learning.rule}: post rate {'up' if change == 'increase' else 'down'}")
            fits[f"protocol_{change}"] = fit_exponentials(proto["dt"], proto["mean"])
            header.append(f"{label} protocol {change}")
            columns.append(proto["mean"])
        out[str(path)] = fits
    dt = np.arange(-dt_range, dt_range + 1)
    for ax in axes:
        ax.plot(dt, bi_poo_window(dt), "k-", lw=2.5, alpha=0.35,
                label="Bi & Poo 1998 (shape; 1 step = 1 ms)")
        ax.axhline(0, color="grey", lw=0.5)
        ax.axvline(0, color="grey", lw=0.5)
        ax.set_xlabel("Δt = t_post − t_pre (steps)")
        ax.set_ylabel("ΔW (normalised to its largest |ΔW|)")
        ax.legend(fontsize=7)
        ax.grid(alpha=0.3)
    axes[0].set_title("training windows (net over both phase signs)", fontsize=10)
    axes[1].set_title("pairing protocol (isolated pairs)", fontsize=10)
    fig.tight_layout()
    fig.savefig(out_png, dpi=120)
    _write_csv(Path(out_png).with_suffix(".csv"), ["dt"] + header,
               np.column_stack([dt] + columns).tolist())
    return out


def _normalised(y):
    scale = np.nanmax(np.abs(y)) if np.any(np.isfinite(y)) else 1.0
    return y / (scale or 1.0), scale or 1.0


def _write_csv(path, header, rows):
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)


def _fit_lines(fits: dict) -> list:
    """The figure's fit box: a line per source and branch."""
    return [f"{name:9s} {describe_fit(fit[branch], sign, 3)}" for name, fit in fits.items()
            for branch, sign in (("plus", "+"), ("minus", "-"))]


def _write_fits_csv(path, fits: dict) -> None:
    """``stdp_fits.csv``: a row per source and branch; a branch not fitted has empty
    parameters, its reason and its measured kernel (``dt:value`` pairs)."""
    rows = []
    for name, fit in fits.items():
        for branch in ("plus", "minus"):
            f = fit[branch]
            numbers = ([f[k] for k in ("A", "A_err", "tau", "tau_err", "r2")] if f["fitted"]
                       else ["", "", "", "", f["r2"]])
            kernel = ";".join(f"{int(t)}:{v:.6e}" for t, v in zip(f["dt"], f["values"]))
            rows.append([name, branch, "fitted" if f["fitted"] else "not fitted", f["note"],
                         *numbers, f["n"], kernel])
    _write_csv(path, ["source", "branch", "status", "note", "A", "A_err", "tau", "tau_err",
                      "r2", "n_bins", "kernel"], rows)


#: The files :func:`plasticity_report` writes into its folder.
REPORT_FILES = ("stdp_window.png", "stdp_window.csv", "stdp_fits.csv", "weight_changes.png",
                "weight_changes.csv", "weight_trajectories.png", "weight_trajectories.csv")


def report_folder(path, out_dir=None) -> Path:
    """Where :func:`plasticity_report` writes: ``out_dir``, or ``RUN-plasticity/`` beside
    the run."""
    path = Path(path)
    return Path(out_dir) if out_dir else path.with_name(path.stem + "-plasticity")


def plasticity_report(path, out_dir=None, protocol: bool = True, pairings: int = 5,
                      dt_kind: str = "nearest") -> dict:
    """Figures and tables of a run's STDP log (and of the pairing protocol with its rule).

    Writes into ``out_dir`` (default: beside the run file, ``RUN-plasticity/``):
    ``stdp_window.png`` / ``.csv`` (training window per edge and the protocol's, on
    one figure), ``stdp_fits.csv`` (A₊, τ₊, A₋, τ₋ ± s.e.), ``weight_changes.png`` /
    ``.csv`` (histograms of the kept changes per edge and sign) and
    ``weight_trajectories.png`` / ``.csv``. Returns the numbers it printed.
    """
    from ..figures import subplots

    from .pairing import pairing_window

    path = Path(path)
    run = runfile.read_run(path)
    spec = run.spec
    names = [edge_name(e) for e in spec.edges]
    log = load_log(path)
    out_dir = report_folder(path, out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    dt_range = int(log["attrs"]["dt_range"])
    pairs = len(log["selection"])
    epochs = list(log["epochs"].values())
    windows = [binned_window(sum(e[f"window_{k}"] for e in epochs), dt_range, dt_kind)
               for k in range(pairs)]
    offsets = range(-dt_range, dt_range + 1)
    proto = pairing_window(spec, offsets, pairings) if protocol else None

    fits = {f"{names[k]}": fit_exponentials(w["dt"], w["net"]["mean"], w["net"]["sem"])
            for k, w in enumerate(windows)}
    if proto is not None:
        fits["protocol"] = fit_exponentials(proto["dt"], proto["mean"], None)

    # -- the window: training per edge and the protocol, one figure ----------------
    fit_lines = _fit_lines(fits)
    text_height = 0.16 * (len(fit_lines) + 1)                 # inches for the fit lines
    fig, axes = subplots(1, 2, figsize=(12, 4.5 + text_height))
    ax = axes[0]
    for k, w in enumerate(windows):
        y, scale = _normalised(w["net"]["mean"])
        ax.errorbar(w["dt"], y, yerr=w["net"]["sem"] / scale, fmt="o-", ms=3, capsize=2,
                    label=f"training, {names[k]} (max |ΔW| {scale:.2e})")
    if proto is not None:
        y, scale = _normalised(proto["mean"])
        ax.plot(proto["dt"], y, "k--", lw=2,
                label=f"pairing protocol, post rate up (max {scale:.2e})")
    ax.axhline(0, color="grey", lw=0.5)
    ax.axvline(0, color="grey", lw=0.5)
    ax.set_xlabel("Δt = t_post − t_pre (steps)")
    ax.set_ylabel("mean ΔW per change (normalised to max |ΔW|)")
    ax.set_title(f"STDP window ({dt_kind} spike of the other neuron)")
    ax.legend(fontsize=8, loc="upper left")
    ax = axes[1]
    for k, w in enumerate(windows):
        for sign, style in zip(SIGNS, ("v-", "^-")):
            ax.plot(w["dt"], w[sign]["mean"], style, ms=3,
                    label=f"{names[k]}, σ = {'−' if sign == 'negative' else '+'}1")
    ax.axhline(0, color="grey", lw=0.5)
    ax.axvline(0, color="grey", lw=0.5)
    ax.set_xlabel("Δt = t_post − t_pre (steps)")
    ax.set_ylabel("mean ΔW per change")
    ax.set_title("training, by phase sign")
    ax.legend(fontsize=8)
    fig.suptitle(f"{path.name}: rule {spec.learning.rule}, {spec.phases.nudging} nudging, "
                 f"{len(epochs)} epoch(s)")
    # the exponential fits under the panels; a branch the model does not describe says so
    bottom = text_height / (4.5 + text_height)
    fig.tight_layout(rect=(0, bottom, 1, 1))
    fig.text(0.01, 0.01, "exponential fits, A exp(-|Δt|/τ) per branch:\n"
             + "\n".join(fit_lines), ha="left", va="bottom", fontsize=7.5,
             family="monospace")
    fig.savefig(out_dir / "stdp_window.png", dpi=120)

    header, columns = ["dt"], [windows[0]["dt"]]
    for k, w in enumerate(windows):
        for sign in ("net", *SIGNS):
            for stat in ("count", "mean", "sem"):
                header.append(f"{names[k]}_{sign}_{stat}")
                columns.append(w[sign][stat])
    if proto is not None:
        header += ["protocol_mean", "protocol_sem"]
        columns += [proto["mean"], proto["sem"]]
    _write_csv(out_dir / "stdp_window.csv", header, np.column_stack(columns).tolist())
    _write_fits_csv(out_dir / "stdp_fits.csv", fits)

    # -- histograms of the kept changes, per edge and phase sign -------------------
    fig, axes = subplots(1, pairs, figsize=(5.5 * pairs, 4), squeeze=False)
    rows = []
    for k in range(pairs):
        events = np.concatenate([e[f"events_{k}"] for e in epochs])
        ax = axes[0, k]
        dw = events["dw"]
        edges = np.linspace(-np.max(np.abs(dw), initial=1e-12),
                            np.max(np.abs(dw), initial=1e-12), 61)
        for sign, value in zip(SIGNS, (-1, 1)):
            counts, _ = np.histogram(dw[events["sign"] == value], edges)
            ax.stairs(counts, edges, label=f"σ = {'−' if value < 0 else '+'}1")
            rows += [[f"{names[k]}", sign, lo, hi, c]
                     for lo, hi, c in zip(edges[:-1], edges[1:], counts)]
        ax.set_yscale("log")
        ax.set_xlabel("ΔW per change")
        ax.set_ylabel("changes (kept sample)")
        total = sum(int(e[f"n_events_{k}"]) for e in epochs)
        ax.set_title(f"{names[k]}: {len(events)} of {total} changes")
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out_dir / "weight_changes.png", dpi=120)
    _write_csv(out_dir / "weight_changes.csv", ["edge", "sign", "dw_low", "dw_high", "count"],
               rows)

    # -- weight trajectories of the logged synapses ---------------------------------------
    fig, axes = subplots(1, pairs, figsize=(5.5 * pairs, 4), squeeze=False)
    rows = []
    for k in range(pairs):
        samples = np.concatenate([e[f"samples_{k}"] for e in epochs])
        weights = np.concatenate([e[f"trajectory_{k}"] for e in epochs])
        ax = axes[0, k]
        shown = np.linspace(0, weights.shape[1] - 1, min(40, weights.shape[1])).astype(int)
        ax.plot(samples, weights[:, shown], lw=0.7, alpha=0.7)
        ax.set_xlabel("training samples seen")
        ax.set_ylabel("weight")
        ax.set_title(f"{names[k]}: {len(shown)} of {weights.shape[1]} logged synapses")
        rows += [[f"{names[k]}", s, *w] for s, w in zip(samples, weights)]
    fig.tight_layout()
    fig.savefig(out_dir / "weight_trajectories.png", dpi=120)
    _write_csv(out_dir / "weight_trajectories.csv", ["edge", "samples_seen", "weights..."],
               rows)

    mismatch = max(float(np.max(e["attrs"]["max_mismatch"])) for e in epochs)
    return {"out_dir": out_dir, "fits": fits, "windows": windows, "protocol": proto,
            "max_mismatch": mismatch,
            "n_events": [sum(int(e[f"n_events_{k}"]) for e in epochs) for k in range(pairs)]}
