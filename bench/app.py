"""App benchmark: page switches in a real browser on a project with 50 experiments and 10k passages.

Builds (or reuses, with --workdir) a git + DVC project: a fake train stage whose outputs (metrics,
dvclive curves, samples) depend on two params, 50 DVC experiments of it, 10,000 synthetic passages
with their documents, and the Lucene/Nori index of them. Then `streamlit run app.py` on 127.0.0.1
and headless Chromium: every page is opened once (cold: the app's caches fill, `dvc exp show` and
`dvc status` run), then the sidebar switches between pages ROUNDS times; a switch is timed from the
click to the end of the script run (stApp's script state back to notRunning with the new title).

Baseline in the same run: `dvc exp show --json` in a terminal, the command a user would otherwise
run to compare experiments (its time against the warm Training page switch is the ratio).
Writes reports/bench/app.json. Usage: python bench/app.py [--experiments 50] [--passages 10000]
[--workdir DIR] [--out PATH]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "tests"))  # the browser driver of tests/test_browser.py

from test_app_project import INDEX_SCRIPT  # noqa: E402  (builds the index as the index stage does)
from test_browser import CHROMIUM, DevTools, free_port, http_ok, process, wait_until  # noqa: E402
from websockets.sync.client import connect  # noqa: E402

from sanchaek.app.main import PAGES  # noqa: E402

BIN = Path(sys.executable).parent
ROUNDS = 5
VIEWPORT = (1400, 1600)

GEN = r"""
import json, math, os, yaml
p = yaml.safe_load(open("fixture.yaml"))
lr, width = p["lr"], p["width"]
os.makedirs("reports/train/plots/metrics/train", exist_ok=True)
os.makedirs("reports/train/plots/metrics/eval", exist_ok=True)
loss = [round(8.0 - 2.0 * (1 - math.exp(-s * lr * 30)) - width / 1000, 4) for s in range(200)]
for name, shift in (("train/loss", 0.0), ("eval/loss", 0.1)):
    with open(f"reports/train/plots/metrics/{name}.tsv", "w") as f:
        f.write("step\tloss\n" + "".join(f"{s}\t{v + shift}\n" for s, v in enumerate(loss)))
json.dump({"train": {"loss": loss[-1], "lr": lr * 0.1}, "val": {"loss": loss[-1] + 0.1}, "step": 199},
          open("reports/train/metrics.json", "w"))
json.dump({"val_loss": loss[-1] + 0.1, "bits_per_char": round((loss[-1] + 0.1) / math.log(2) / 2.5, 4),
           "perplexity": round(math.exp(loss[-1] + 0.1), 2), "re_micro_f1": round(10 + lr * 1000, 2),
           "re_auprc": round(5 + width / 100, 2)}, open("reports/eval.json", "w"))
exp = os.environ.get("DVC_EXP_NAME") or "workspace"
with open("reports/samples.jsonl", "w") as f:
    for prompt in ("외투를 걸치고 골목으로 나섰다.", "강둑을 따라 바람이 불었다."):
        for k in range(2):
            f.write(json.dumps({"prompt": prompt, "theme": "산책", "experiment": exp,
                                "text": f"{prompt} {exp} {k}: 나는 천천히 걸으며 어머니의 목소리를 떠올렸다."},
                               ensure_ascii=False) + "\n")
"""

DVC_YAML = """stages:
  train:
    cmd: python gen.py
    deps: [gen.py]
    params:
      - fixture.yaml:
          - lr
          - width
    outs:
      - reports/samples.jsonl:
          cache: false
    metrics:
      - reports/train/metrics.json:
          cache: false
      - reports/eval.json:
          cache: false
    plots:
      - reports/train/plots/metrics:
          x: step
          cache: false
"""

WORDS = (
    "골목 강둑 다리 시장 어머니 아버지 바람 저녁 새벽 겨울 봄 창문 편지 기차 눈물 죽음 산책 그림자 "
    "불빛 학교 고향 바다 하늘 술집 약속 목소리 손 발자국 우산 비 눈 꽃 나무 담배 사진 꿈 거리"
).split()
VERBS = "걸었다 멈췄다 떠올렸다 울었다 웃었다 기다렸다 보았다 들었다 잊었다 생각했다".split()


def sh(args: list[str], cwd: Path, timeout: float = 600) -> str:
    env = dict(os.environ, PATH=f"{BIN}:{os.environ.get('PATH', '')}", DVC_NO_ANALYTICS="1")
    done = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(args)} failed: {done.stderr.strip()[-500:]}")
    return done.stdout


def sentence(rng: random.Random) -> str:
    return f"{rng.choice(WORDS)}에서 {rng.choice(WORDS)}을 {rng.choice(VERBS)}."


def write_corpus(root: Path, n_passages: int) -> None:
    rng = random.Random(1234)
    interim = root / "data/interim"
    interim.mkdir(parents=True, exist_ok=True)
    n_docs = max(1, n_passages // 10)
    with (interim / "documents.jsonl").open("w", encoding="utf-8") as docs:
        for d in range(n_docs):
            docs.write(json.dumps({"id": f"d{d}", "source": ["corpus", "munjang", "brunch"][d % 3],
                                   "title": f"작품 {d}", "author": f"작가 {d % 97}", "genre": ["소설", "수필"][d % 2],
                                   "published": str(1920 + d % 80), "license": "CC-BY-SA-4.0", "url": None,
                                   "text": "…"}, ensure_ascii=False) + "\n")  # fmt: skip
    with (interim / "passages.jsonl").open("w", encoding="utf-8") as out:
        for p in range(n_passages):
            d = p // 10
            text = " ".join(sentence(rng) for _ in range(rng.randint(3, 8)))
            out.write(json.dumps({"passage_id": f"d{d}#{p % 10:04d}", "doc_id": f"d{d}",
                                  "source": ["corpus", "munjang", "brunch"][d % 3], "genre": ["소설", "수필"][d % 2],
                                  "title": f"작품 {d}", "author": f"작가 {d % 97}", "text": text,
                                  "n_sentences": text.count(".")}, ensure_ascii=False) + "\n")  # fmt: skip


def build(root: Path, n_experiments: int, n_passages: int) -> dict:
    """The project; returns seconds per build step."""
    seconds = {}
    t = time.perf_counter()
    root.mkdir(parents=True)
    sh(["git", "init", "-q", "-b", "main"], root)
    sh(["git", "config", "user.email", "bench@example.com"], root)
    sh(["git", "config", "user.name", "bench"], root)
    sh(["dvc", "init", "-q"], root)
    (root / "gen.py").write_text(GEN, encoding="utf-8")
    (root / "fixture.yaml").write_text("lr: 0.001\nwidth: 256\n")
    (root / "dvc.yaml").write_text(DVC_YAML)
    (root / "params.yaml").write_text("ratings:\n  min_comparisons: 1\n")  # the app's own defaults otherwise
    (root / ".gitignore").write_text("/data/\n")
    (root / "ratings").mkdir()
    for name in ("votes.jsonl", "flags.jsonl"):
        (root / "ratings" / name).write_text("")
    write_corpus(root, n_passages)
    seconds["corpus"] = time.perf_counter() - t
    t = time.perf_counter()
    sh([sys.executable, "-c", INDEX_SCRIPT, str(root)], root)
    seconds["index"] = time.perf_counter() - t
    t = time.perf_counter()
    sh(["dvc", "repro", "-q"], root)
    sh(["git", "add", "-A"], root)
    sh(["git", "commit", "-q", "-m", "baseline"], root)
    for i in range(n_experiments):
        lr, width = (
            [0.0003, 0.001, 0.003, 0.01, 0.03][i % 5],
            [128, 256, 512, 768, 1024, 1536, 2048, 3072, 4096, 8192][i // 5 % 10],
        )
        sh(["dvc", "exp", "run", "-q", "-S", f"fixture.yaml:lr={lr}", "-S", f"fixture.yaml:width={width}",
            "-n", f"exp-{i:02d}"], root)  # fmt: skip
    seconds["experiments"] = time.perf_counter() - t
    return seconds


def baseline_exp_show(root: Path) -> float:
    t = time.perf_counter()
    sh(["dvc", "exp", "show", "--json"], root)
    return time.perf_counter() - t


def measure(root: Path) -> dict:
    port = free_port()
    env = dict(
        os.environ, SANCHAEK_ROOT=str(root), DVC_NO_ANALYTICS="1", PATH=f"{BIN}:{os.environ.get('PATH', '')}"
    )
    shutil.copytree(ROOT / ".streamlit", root / ".streamlit", dirs_exist_ok=True)
    streamlit = [str(BIN / "streamlit"), "run", str(ROOT / "app.py"), "--server.port", str(port),
                 "--server.headless", "true", "--server.fileWatcherType", "none"]  # fmt: skip
    profile = Path(tempfile.mkdtemp(prefix="bench-chromium-"))
    chromium = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                "--disable-background-networking", f"--user-data-dir={profile}",
                "--remote-debugging-address=127.0.0.1", "--remote-debugging-port=0",
                f"--window-size={VIEWPORT[0]},{VIEWPORT[1]}", "about:blank"]  # fmt: skip
    with process(streamlit, cwd=root, env=env) as server, process(chromium) as browser:
        base = f"http://127.0.0.1:{port}"
        wait_until(lambda: http_ok(f"{base}/_stcore/health") or server.poll() is not None, 60, "streamlit")
        active = profile / "DevToolsActivePort"
        wait_until(
            lambda: active.exists() and active.read_text().strip() or browser.poll() is not None,
            30,
            "chromium",
        )
        with urllib.request.urlopen(
            f"http://127.0.0.1:{int(active.read_text().split()[0])}/json/list"
        ) as resp:
            page = next(t for t in json.load(resp) if t["type"] == "page")
        with connect(page["webSocketDebuggerUrl"], max_size=None, open_timeout=15) as ws:
            tab = DevTools(ws)
            tab.call("Page.enable")
            tab.call("Page.navigate", url=f"{base}/?page=overview")
            wait_until(
                lambda: "산책" in (tab.js("document.querySelector('h1')?.innerText") or ""), 120, "overview"
            )
            settle(tab, "산책")
            cold, warm = {}, {slug: [] for slug in PAGES}
            for round_ in range(ROUNDS + 1):
                for slug in [*list(PAGES)[1:], "overview"]:
                    took = switch(tab, slug)
                    if round_ == 0:
                        cold[slug] = took
                    else:
                        warm[slug].append(took)
    shutil.rmtree(profile, ignore_errors=True)
    return {"cold_first_visit_s": cold, "warm_switch_s": warm}


def title_of(slug: str) -> str:
    return "산책" if slug == "overview" else PAGES[slug][0].split(" · ")[0]


def settle(tab: DevTools, title: str) -> None:
    def done() -> bool:
        return bool(tab.js(
            "document.querySelector('[data-testid=\"stApp\"]')?.dataset.testScriptState === 'notRunning'"
            f" && (document.querySelector('h1')?.innerText || '').includes({json.dumps(title)})"
            " && !document.querySelector('[data-testid=\"stSkeleton\"]')"
        ))  # fmt: skip

    wait_until(done, 120, f"page {title}", interval=0.01)


def switch(tab: DevTools, slug: str) -> float:
    """Click the page in the sidebar; seconds until its script run has finished."""
    label = PAGES[slug][0]
    box = tab.js(
        "(() => { const el = [...document.querySelectorAll('[data-testid=\"stSidebar\"] label')]"
        f".find(l => l.innerText.includes({json.dumps(label)})); const r = el.getBoundingClientRect();"
        " return [r.x + 12, r.y + r.height / 2]; })()"
    )
    start = time.perf_counter()
    tab.click_at(*box)
    wait_until(lambda: tab.js(
        "document.querySelector('[data-testid=\"stApp\"]')?.dataset.testScriptState === 'running'"
        f" || (document.querySelector('h1')?.innerText || '').includes({json.dumps(title_of(slug))})"
    ), 30, "the rerun to start", interval=0.005)  # fmt: skip
    settle(tab, title_of(slug))
    return time.perf_counter() - start


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--experiments", type=int, default=50)
    ap.add_argument("--passages", type=int, default=10_000)
    ap.add_argument("--workdir", type=Path, default=None, help="build once here and reuse it on later runs")
    ap.add_argument("--out", type=Path, default=ROOT / "reports/bench/app.json")
    args = ap.parse_args()
    tmp = None
    if args.workdir is None:
        tmp = Path(tempfile.mkdtemp(prefix="bench-app-"))
        root = tmp / "proj"
    else:
        root = args.workdir
    build_s = build(root, args.experiments, args.passages) if not (root / ".dvc").is_dir() else {}
    exp_show = [baseline_exp_show(root) for _ in range(2)]
    load_before = os.getloadavg()[0]
    result = measure(root)
    load_after = os.getloadavg()[0]
    warm = result["warm_switch_s"]
    per_page = {
        s: {"median": round(statistics.median(v), 3), "max": round(max(v), 3)} for s, v in warm.items()
    }
    report = {
        "what": "page switch in headless Chromium (sidebar click -> script run finished), streamlit run app.py",
        "command": f"python bench/app.py --experiments {args.experiments} --passages {args.passages}",
        "experiments": args.experiments,
        "passages": args.passages,
        "rounds": ROUNDS,
        "machine": f"{platform.machine()}, {os.cpu_count()} cores (shared)",
        "load_average_1min": [round(load_before, 1), round(load_after, 1)],
        "warm_switch_s": per_page,
        "warm_switch_median_max_s": max(p["median"] for p in per_page.values()),
        "warm_switch_max_s": round(max(max(v) for v in warm.values()), 3),
        "cold_first_visit_s": {k: round(v, 3) for k, v in result["cold_first_visit_s"].items()},
        "baseline_dvc_exp_show_json_s": round(min(exp_show), 3),
        "ratio_dvc_exp_show_to_training_switch": round(min(exp_show) / per_page["training"]["median"], 1),
        "build_s": {k: round(v, 1) for k, v in build_s.items()},
        "target": "page switch <= 1 s (median per page; the max shows the shared machine's spikes)",
        "met_median": max(p["median"] for p in per_page.values()) <= 1.0,
        "met_max": max(max(v) for v in warm.values()) <= 1.0,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(report, ensure_ascii=False, indent=2))
    if tmp is not None:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
