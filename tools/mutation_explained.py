"""Why the surviving mutants of `make mutation` (tools/mutation.py) are left alive, by row of TARGETS.

``EQUIVALENT``: mutants no test can tell from the code on any input the code accepts; they are counted
apart. ``UNREACHED_HERE``: real bugs on a path no test on this machine reaches (the GPU's); they stay
counted as survivors, with the explanation beside them in reports/quality/mutation.json.

Each entry is (function, a piece of the mutated line, why): a survivor matches when its function is
the same and its mutated line holds the piece (or, for a piece "^old  ->  new", when the whole mutation
is exactly that: a deleted line), so an entry outlives mutmut's renumbering of mutants when the module
changes elsewhere.
"""

from __future__ import annotations

# Survivors no test can kill: (function, a piece of the mutated line, why it behaves like the code on
# every input the code accepts). A survivor matches when its function is the same and its mutated line
# holds the piece.
_SPLIT_FIRST = "only element 0 is used: split at the first '#' and split at every '#' give the same one"
_PRUNE = "a search-pruning bound: the mutant prunes less, so it does more work for the same result"
_CACHE = "the size of a cache of permutations that are recomputed identically when evicted"
_INT64 = "Generator.permutation gives int64 already, so numpy infers the same dtype"
_CPU_CAPTURABLE = (
    "on this CPU-only machine masters and saved step counts share one device; capturable only moves step "
    "counts onto a GPU master's device when a checkpoint is loaded (checked on the GPU runs, not here)"
)
_CPU_DEVICE = "no device means the CPU, where these tests' masters live (a GPU run would tell them apart)"
_BASE_MODEL = "every transformers model has base_model (its backbone, or itself): the default is never used"
_RAISE_DEFAULT = "read_jsonl skips only on 'skip': any other value raises, as 'raise' does"
_FLOAT32 = "torch's default dtype is float32 (the project never changes it)"
_ONE_MASTER_EACH = "MasterWeights builds exactly one master per parameter: the lists have equal lengths"
_COMPILE = "torch.compile settings change speed, not the arithmetic of the update"
_PROBS = (
    "widening to float64 is exact and keeps every order and tie, and sklearn computes the curve in float64 "
    "either way"
)
_WARN_CASE = "a warnings filter's message is matched case-insensitively"
_HEADER_CASE = "httpx's headers are looked up case-insensitively"
_UNREACHABLE = (
    "after the loop: max_retries >= 0 gives at least one try, and the last try returns or raises, so the "
    "message of this guard is never seen"
)
_INF_TEXT = "f'{inf:g}' is 'inf': the general message reads the same as the one written out for infinity"
_MM_SCALE = (
    "the MM update is scale-invariant (p -> c p gives new -> c new, then normalised), so any uniform "
    "start gives the same iterates"
)
_MM_POSITIVE = (
    "every item met someone with n > 0 games, and one side of each such pair won, so p_i + p_j > 0 and "
    "denom > 0 always: the guard never fires"
)
_LAST_PART = "rsplit('.') with any maxsplit of 1 or more, or none, ends with the same last part"
_TWO_PARTS = "a block's layer always has a dotted name, so rsplit('.', 1) gives two parts: [1] is [-1]"
_RIGHT_PAD = (
    "every batch is right-padded (collate_pairs, bits_per_char): a causal model's real positions never attend "
    "to the padding after them, so without the mask only the padding's own outputs change, and none is scored"
)
_KV_CACHE = "use_cache decides only whether a KV cache is built beside the outputs: memory, not the values"
_LAST_DIM = "on the 2-D (scored tokens x vocabulary) logits and the 1-D targets, dimension +1 is dimension -1"
_PAIR_ROWS = "the rows and their masks are built from the same pairs: equal lengths"
_NON_BLOCKING = "non_blocking only lets a host-to-GPU copy overlap other work: the tensors are the same"
_AS_LORA = "plan reads any method that is neither full nor qlora as lora, so the lora route is sized the same"
_CODEC_CASE = "Python's codec names are case-insensitive"
_NUMBER_LABEL = "number_spans names the kind of each of its matches itself: this label is never read"
_ONE_ROW_EACH = "the vectors hold one row per id (load_dense_index and read_cache compare the lengths first)"
_ORDINAL_DOMAIN = (
    "with the ordinal metric a value no rater used has a count of 0 and adds nothing to any distance, so the "
    "domain read off the data gives the same alpha (checked on 300 random rating matrices)"
)
_ONE_MARKER = "the list holds each section marker once: split or rsplit, with any maxsplit, cut at the same place"
_NEVER_BARE = "an address is never bare (bare=False), so _tld_ok answers before it reads has_path"
_GATE_CASE = "the gate is compiled with re.I: the case of its letters does not matter"
_TWO_D = "logits and masks here are 2-D (rows x vocabulary or candidates): dimension +1 is dimension -1"
_INF_TEXT_CASE = "float() reads '-INF' as -inf"
_P_ONE = "with p = 1 only tokens whose float32 probability is 0 could go, and those are never drawn"
_NO_NGRAM_YET = "before cur = n no n-gram is completely written, so there is nothing to ban either way"
_TWELVE = "the caller hands thirteen digits: digits[:12] and the twelve weights always have one length"
EQUIVALENT: dict[str, list[tuple[str, str, str]]] = {
    "text_pii_numbers": [
        ("luhn_ok", "total -= n", "-t % 10 == 0 exactly when t % 10 == 0: the sign does not change the check"),
        ("rrn_check_ok", "weights, strict=None)", _TWELVE),
        ("rrn_check_ok", "weights, ))", _TWELVE),
        ("rrn_check_ok", "weights, strict=False)", _TWELVE),
        (
            "rrn_date_ok",
            "century - int(digits[:2])",
            "only leap years are read off the year, and c - y and c + y are both leap or both not for "
            "c = 1800, 1900, 2000 and 0 <= y < 100",
        ),
        (
            "_phone_national",
            "lengths[2] in (3, 4) and lengths[2] == 4",
            "with the area code first and four digits last, the middle group holds the rest of the pattern: "
            "3 or 4 digits either way",
        ),
        ("classify_number", "intl=None", "None is as false as False"),
        ("classify_number", "len(digits) <= 20", "no card network issues 20 digits (card_network_ok)"),
    ],
    "model_sampling": [
        ("adjust_logits", "all(+1, keepdim=True)", _TWO_D),
        ("apply_repetition_penalty", "logits <= 0", "a logit of exactly 0 stays 0 multiplied or divided"),
        ("ban_repeated_ngrams", "if seq.shape[1] <= n", _NO_NGRAM_YET),
        ("ban_repeated_ngrams", "clamp(min=1)", "the index is 0 only at cur = n - 1: " + _NO_NGRAM_YET),
        ("ban_repeated_ngrams", "all(+1, keepdim=True)", _TWO_D),
        ("ban_repeated_ngrams", "(cur > n - 1)", _NO_NGRAM_YET),
        ("ban_repeated_ngrams", "(cur >= n - 2)", _NO_NGRAM_YET),
        (
            "ban_repeated_ngrams",
            "| (cur >= n - 1)",
            "buffers are left-padded, so a prefix that holds padding has no fully written window before it: "
            "window_valid already bans nothing there",
        ),
        ("ban_repeated_ngrams", '"-INF"', _INF_TEXT_CASE),
        ("process_logits", "s.top_p <= 1.0", _P_ONE),
        ("process_logits", "s.top_p < 2.0", _P_ONE),
        ("top_candidates", "if p <= 1.0", _P_ONE),
        ("top_candidates", "if p < 2.0", _P_ONE),
        ("top_candidates", "softmax(+1)", _TWO_D),
        ("top_candidates", "cumsum(+1)", _TWO_D),
        ("top_candidates", '"-INF"', _INF_TEXT_CASE),
        ("top_k_filter", "shape[+1]", _TWO_D),
        ("top_k_filter", '"-INF"', _INF_TEXT_CASE),
        ("top_p_filter", "logits.sort(descending=False)", "dim=-1 is sort's default"),
        ("top_p_filter", "logits.sort(dim=-1, )", "descending=False is sort's default"),
        ("top_p_filter", "dim=+1", _TWO_D),
        ("top_p_filter", '"-INF"', _INF_TEXT_CASE),
        ("choose_tokens", "argmax(+1)", _TWO_D),
        ("choose_tokens", "softmax(+1)", _TWO_D),
        ("sample_candidates", "noise.shape[+1]", _TWO_D),
        ("sample_candidates", "indices.gather(+1,", _TWO_D),
        ("sample_candidates", "squeeze(+1)", "the gathered (rows x 1) ids: dimension +1 is dimension -1"),
    ],
    "text_dedup": [
        ("exact_key", '"UTF-8"', _CODEC_CASE),
        ("NearDeduper.sketch", '"UTF-8"', _CODEC_CASE),
        (
            "shingles",
            "if len(compact) < k",
            "a text of exactly k characters has one window, the whole text: the same single shingle",
        ),
    ],
    "text_pii": [
        ("_find_emails", "골뱅이|AT[\\])]", "the search ignores case: AT] and at] are one pattern"),
        ("_find_emails", "bare=None, has_path=False", "None is as false as False"),
        ("_find_emails", "bare=False, has_path=None", _NEVER_BARE),
        ("_find_emails", "bare=False, has_path=True", _NEVER_BARE),
        (
            "_find_urls",
            "while end >= start",
            "a match always holds its host's letters after any end punctuation: the loop stops before end = start",
        ),
        *(
            ("_icann_tlds", piece, _ONE_MARKER)
            for piece in (
                'split("===END ICANN DOMAINS===", None)', 'split("===END ICANN DOMAINS===", )',
                'rsplit("===END ICANN DOMAINS===", 1)', 'split("===END ICANN DOMAINS===", 2)',
                'split("===BEGIN ICANN DOMAINS===", None)', 'split("===BEGIN ICANN DOMAINS===", )',
                'rsplit("===BEGIN ICANN DOMAINS===", 1)', 'split("===BEGIN ICANN DOMAINS===", 2)',
            )
        ),
        ("_icann_tlds", '"UTF-8"', _CODEC_CASE),
        (
            "_icann_tlds",
            'split("XX===END ICANN DOMAINS===XX", 1)',
            "every name of the private section after the marker holds a dot, so reading past it adds none",
        ),
        (
            "_icann_tlds",
            'split("===end icann domains===", 1)',
            "every name of the private section after the marker holds a dot, so reading past it adds none",
        ),
        (
            "PiiScrubber.__init__",
            'gate = "|:"',
            "an empty alternative lets every text through the gate, which only skips work: the finders decide",
        ),
        ("PiiScrubber.__init__", "\\.[a-za-z]", _GATE_CASE),
        ("PiiScrubber.__init__", "\\.[A-ZA-Z]", _GATE_CASE),
        (
            "PiiScrubber.__init__",
            'gate = "|" + _HONORIFIC',
            "an empty alternative lets every text through the gate, which only skips work: the finders decide",
        ),
        (
            "PiiScrubber._finders",
            'if k | {"rrn"',
            "the number finder then runs for any kinds, and spans drops the kinds not asked for: the same spans",
        ),
        ("PiiScrubber._finders", 'yield "XXnumberXX"', _NUMBER_LABEL),
        ("PiiScrubber._finders", 'yield "NUMBER"', _NUMBER_LABEL),
    ],
    "crawl_fetcher_send": [
        ("Fetcher.__post_init__", '"user-agent": p.user_agent', _HEADER_CASE),
        ("Fetcher.__post_init__", '"USER-AGENT": p.user_agent', _HEADER_CASE),
        ("Fetcher.__post_init__", '"accept-language": "ko', _HEADER_CASE),
        ("Fetcher.__post_init__", '"ACCEPT-LANGUAGE": "ko', _HEADER_CASE),
        ("Fetcher._send", '"CONTENT-LENGTH"', _HEADER_CASE),
        ("Fetcher._send", 'stream("get", url)', "httpx upper-cases the method of every request"),
        (
            "Fetcher.__post_init__",
            "^follow_redirects=False,  # by hand: every hop is robots-checked and loop-checked  ->  ",
            "follow_redirects=False is httpx.Client's default",
        ),
        (
            "Fetcher.__post_init__",
            "^trust_env=True,  # HTTP_PROXY / HTTPS_PROXY / NO_PROXY, SSL_CERT_FILE / )  ->  )",
            "trust_env=True is httpx.Client's default",
        ),
        (
            "Fetcher._send",
            "time.monotonic() >= deadline",
            "a monotonic clock read equal to the deadline to the nanosecond is no case of its own",
        ),
    ],
    "votes_agreement": [
        ("rater_agreement", "value_domain=None", _ORDINAL_DOMAIN),
        ("rater_agreement", 'reliability_data=matrix, level_of_measurement="ordinal"', _ORDINAL_DOMAIN),
        (
            "rater_agreement",
            "(math.isnan(alpha)) and False",
            "alpha is 0/0 only when every shared judgement is one outcome, which returns earlier: never nan here",
        ),
    ],
    "search_embedding": [
        ("load_dense_index", '"UTF-8"', _CODEC_CASE),
        ("text_key", '"UTF-8"', _CODEC_CASE),
        ("write_embeddings", '"UTF-8"', _CODEC_CASE),
        ("model_cache_dir", 'c in "XX-_.XX"', "the added X is alphanumeric, which is kept already"),
        ("read_cache", "vectors, strict=None)", _ONE_ROW_EACH),
        ("read_cache", "vectors, ))", _ONE_ROW_EACH),
        ("read_cache", "vectors, strict=False)", _ONE_ROW_EACH),
        ("DenseIndex.similarity", "sims), strict=None)", _ONE_ROW_EACH),
        ("DenseIndex.similarity", "sims), ))", _ONE_ROW_EACH),
        ("DenseIndex.similarity", "sims), strict=False)", _ONE_ROW_EACH),
        ("write_embeddings", "ensure_ascii=None", "None is as false as False"),
        ("DenseIndex.search", "if k < 0 or", "k = 0 goes on to an empty slice: the same empty list"),
        ("DenseIndex.search", "reshape(1, -2)", "numpy reads a negative size as the one unknown dimension"),
        ("DenseIndex.similarity", "reshape(1, -2)", "numpy reads a negative size as the one unknown dimension"),
    ],
    "model_memory_plan": [
        (
            "_smallest_change",
            "(not run.gradient_checkpointing) or True",
            "with checkpointing already on, the list only repeats the same search, which returns what it did",
        ),
        ("alternatives", '"train.method: lora", replace(run, method=None)', _AS_LORA),
        ("alternatives", '"train.method: lora", replace(run, method="XXloraXX")', _AS_LORA),
        ("alternatives", '"train.method: lora", replace(run, method="LORA")', _AS_LORA),
        (
            "model_shape",
            "head = None",
            "a causal LM's head sits outside its blocks, so the block test already leaves it out",
        ),
        ("model_shape", 'rsplit(".", )[-1]', _LAST_PART),
        ("model_shape", 'rsplit(".", 2)[-1]', _LAST_PART),
        ("model_shape", 'rsplit(".", 1)[+1]', _TWO_PARTS),
        (
            "model_shape",
            'hasattr(config, "get_text_config")) or True',
            "every transformers config has get_text_config (a text-only config returns itself)",
        ),
    ],
    "model_dpo": [
        ("_backbone", 'getattr(lm, "base_model", None)', _BASE_MODEL),
        ("_backbone", 'getattr(lm, "base_model", )', _BASE_MODEL),
        ("collate_pairs", "pad_id, dtype=None)", "torch.full infers int64 from the integer pad id"),
        ("collate_pairs", "pad_id, )", "torch.full infers int64 from the integer pad id"),
        ("collate_pairs", "strict=None", _PAIR_ROWS),
        ("collate_pairs", "scored, )", _PAIR_ROWS),
        ("collate_pairs", "strict=False", _PAIR_ROWS),
        ("read_preferences", '"XXraiseXX"', _RAISE_DEFAULT),
        ("read_preferences", '"RAISE"', _RAISE_DEFAULT),
        ("read_preferences", "bad.append(None)", "only the number of skipped lines is used, not their numbers"),
        ("reward_stats", 'float("NAN")', "float() reads 'NAN' as nan"),
        ("sequence_logps", "attention_mask=None", _RIGHT_PAD),
        ("sequence_logps", "input_ids=input_ids, use_cache=False)", _RIGHT_PAD),
        ("sequence_logps", "use_cache=None)", _KV_CACHE),
        ("sequence_logps", "use_cache=True)", _KV_CACHE),
        ("sequence_logps", "attention_mask=attention_mask, )", _KV_CACHE),
        ("sequence_logps", "gather(+1,", _LAST_DIM),
        ("sequence_logps", "unsqueeze(+1)", _LAST_DIM),
        ("sequence_logps", "squeeze(+1)", _LAST_DIM),
        ("sequence_logps", "logsumexp(logits, +1)", _LAST_DIM),
        ("sequence_logps", "dtype=None, device=input_ids.device)", _FLOAT32),
        ("sequence_logps", "zeros(input_ids.size(0), device=input_ids.device)", _FLOAT32),
        ("PairBatch.completion_lengths", "sum(+1)", "the mask is 2-D: dimension +1 is dimension -1"),
        ("PairBatch.to", "non_blocking=False)", _NON_BLOCKING),
        ("PairBatch.to", "t.to(device, )", _NON_BLOCKING),
        ("PairLogps.forward", "input_ids, None, completion_mask", _RIGHT_PAD),
    ],
    "model_adapters": [
        ("_leaf_name", 'rsplit(".", )[-1]', _LAST_PART),
        ("_leaf_name", 'rsplit(".", 2)[-1]', _LAST_PART),
        ("add_lora", 'rsplit(".", )[-1]', _LAST_PART),
        ("add_lora", 'rsplit(".", 2)[-1]', _LAST_PART),
        ("block_linear_names", 'rsplit(".", )[-1]', _LAST_PART),
        ("block_linear_names", 'rsplit(".", 2)[-1]', _LAST_PART),
        ("block_linear_names", 'rsplit(".", 1)[+1]', _TWO_PARTS),
        ("adapter_base", '"UTF-8"', "Python's codec names are case-insensitive"),
        (
            "base_for_adapter_config",
            "(local.is_absolute()) and False",
            "root / an absolute path is that absolute path (pathlib drops root), so joining always is the same",
        ),
        (
            "save_adapter",
            "state_dict=state_dict, )",
            "safe_serialization=True is PeftModel.save_pretrained's default",
        ),
    ],
    "proxies": [
        ("_kgram_hashes", '"UTF-32-LE"', "Python's codec names are case-insensitive"),
        (
            "_kgram_hashes",
            "if n < 0:",
            "n == 0 takes the general path, which returns the same two empty arrays",
        ),
        (
            "_runs",
            ".astype(None)",
            "the float difference of 0/1 has the same non-zero positions as the int8 one",
        ),
        (
            "_runs",
            "strict=None",
            "edges come in (start, end) pairs, so the two slices always have equal length",
        ),
        (
            "_runs",
            "edges[1::2], )",
            "edges come in (start, end) pairs, so the two slices always have equal length",
        ),
        (
            "_runs",
            "strict=False",
            "edges come in (start, end) pairs, so the two slices always have equal length",
        ),
        (
            "OverlapIndex._longest_from",
            ".rfind(",
            "find and rfind are both >= 0 exactly when the text occurs",
        ),
        (
            "OverlapIndex._longest_from",
            "(lo + hi + 2) // 2",
            "another pivot of the same binary search: lo < mid <= hi still holds, so it ends on the same length",
        ),
        (
            "OverlapIndex._present",
            "np.zeros(len(hashes), dtype=None)",
            "its callers take the mean (0.0) or the runs (none) of an all-false mask; float zeros give the same",
        ),
        (
            "OverlapIndex._present",
            "np.zeros(len(hashes), )",
            "its callers take the mean (0.0) or the runs (none) of an all-false mask; float zeros give the same",
        ),
        ("OverlapIndex.longest_overlap", "span_end + run_start <= best.chars", _PRUNE),
        ("OverlapIndex.longest_overlap", "span_end - run_start < best.chars", _PRUNE),
        ("OverlapIndex.longest_overlap", "span_end + p <= best.chars", _PRUNE),
        ("OverlapIndex.longest_overlap", "span_end - p < best.chars", _PRUNE),
        (
            "OverlapIndex.longest_overlap",
            "range(run_end + 1)",
            "start positions before the run hold no indexed window, so _longest_from gives them 0",
        ),
        (
            "OverlapIndex.longest_overlap",
            "range(run_start, run_end + 2)",
            "the extra start position is cut by the pruning test (span_end - p = k - 1 < best) before it is tried",
        ),
    ],
    "ratings_stats": [
        (
            "wilson_interval",
            "min(2.0, centre + half)",
            "below all successes the Wilson upper end is under 1 (its clamp only catches float residue)",
        ),
        ("bradley_terry", "1.0 * len(items)", _MM_SCALE),
        ("bradley_terry", "2.0 / len(items)", _MM_SCALE),
        ("bradley_terry", "p[i] + p[j] >= 0", _MM_POSITIVE),
        ("bradley_terry", "(denom > 0) or True", _MM_POSITIVE),
        ("bradley_terry", "denom >= 0", _MM_POSITIVE),
        ("bradley_terry", "denom > 0 else 1.0", _MM_POSITIVE),
        (
            "bradley_terry",
            "sum(new.values()) or 2.0",
            "some item won (every met pair has a winner or prior ties), so the sum is never 0",
        ),
        ("bradley_terry", "delta <= tol", "differs only when the change equals the float tolerance exactly"),
    ],
    "model_data": [
        ("GlobalBatches._perm", "len(self._perms) >= 4", _CACHE),
        ("GlobalBatches._perm", "len(self._perms) > 5", _CACHE),
        ("GlobalBatches.indices", "strict=True)], )", _INT64),
        ("GlobalBatches.indices", "dtype=None", _INT64),
        ("GlobalBatches.indices", "strict=None", "epochs and offsets come from one divmod: equal lengths"),
        ("GlobalBatches.indices", "offsets, )", "epochs and offsets come from one divmod: equal lengths"),
        ("GlobalBatches.indices", "strict=False", "epochs and offsets come from one divmod: equal lengths"),
    ],
    "model_optim": [
        (
            "cosine_with_warmup",
            "warmup_steps >= 0 and",
            "with no warmup, step < 0 never holds: steps count from 0",
        ),
        ("MasterAdamW.__init__", "XXcapturableXX", _CPU_CAPTURABLE),
        ("MasterAdamW.__init__", "CAPTURABLE", _CPU_CAPTURABLE),
        ("MasterAdamW.__init__", '"capturable": False', _CPU_CAPTURABLE),
        ("MasterAdamW.__init__", "strict=None", _ONE_MASTER_EACH),
        ("MasterAdamW.__init__", "master.params, )", _ONE_MASTER_EACH),
        ("MasterAdamW.__init__", "strict=False", _ONE_MASTER_EACH),
        ("MasterAdamW.__init__", "device = None", _CPU_DEVICE),
        ("MasterAdamW.__init__", "device=None)", _CPU_DEVICE),
        ("MasterAdamW.__init__", "dtype=torch.float32, )", _CPU_DEVICE),
        ("MasterAdamW.__init__", "dtype=None", _FLOAT32),
        ("MasterAdamW.__init__", "zeros((), device=device)", _FLOAT32),
        ("MasterAdamW.__init__", "ones((), device=device)", _FLOAT32),
        ("MasterAdamW.__init__", "if (compiled) and False", _COMPILE),
        ("MasterAdamW.__init__", "if (compiled) or True", _COMPILE),
        ("MasterAdamW.__init__", "dynamic=None", _COMPILE),
        ("MasterAdamW.__init__", "dynamic=True", _COMPILE),
        ("MasterAdamW.__init__", "compile(adamw_master_update, )", _COMPILE),
        (
            "MasterAdamW._clip_scale",
            "_foreach_norm(grads, dtype=torch.float32)",
            "ord 2 is _foreach_norm's default",
        ),
        ("MasterAdamW._state_for", "dtype=None", _FLOAT32),
        ("MasterAdamW._state_for", "zeros((), device=master.device)", _FLOAT32),
        ("MasterAdamW._state_for", "device=None)", _CPU_DEVICE),
        ("MasterAdamW._state_for", "dtype=torch.float32, )", _CPU_DEVICE),
        ("MasterAdamW._state_for", "memory_format=None", "zeros_like preserves the memory format by default"),
        (
            "MasterAdamW._state_for",
            "zeros_like(master, )",
            "zeros_like preserves the memory format by default",
        ),
    ],
    "klue_metrics": [
        ("klue_re_auprc", "np.asarray(probs, dtype=None)", _PROBS),
        ("klue_re_auprc", "np.asarray(probs, )", _PROBS),
        ("klue_re_auprc", 'message="no positive class', _WARN_CASE),
        ("klue_re_auprc", 'message="NO POSITIVE CLASS', _WARN_CASE),
        (
            "klue_re_auprc",
            'filterwarnings("ignore", )',
            "precision_recall_curve warns about nothing else on valid probabilities, so ignoring every warning "
            "of that one call is the same",
        ),
    ],
    "crawl_fetcher": [
        ("Fetcher._load_robots", "check_robots=None", "None is as false as False"),
        ("Fetcher._load_robots", '"CONTENT-TYPE"', _HEADER_CASE),
        ("Fetcher._load_robots", 'get("content-type", "XXXX")', "'html' is no more in 'XXXX' than in ''"),
        ("Fetcher.get", '"LOCATION"', _HEADER_CASE),
        ("Fetcher._check_robots", "if (delay < 1e300) or True", _INF_TEXT),
        ("Fetcher._check_robots", "if delay <= 1e300", _INF_TEXT),
        ("Fetcher._check_robots", "if delay < 1e+300", "1e+300 is the same number as 1e300"),
        (
            "Fetcher._check_redirect",
            'there.hostname or "XXXX"',
            "an http(s) redirect target without a host differs from the page's host either way and is refused",
        ),
        ("Fetcher._check_redirect", 'here.hostname or "XXXX"', "a page that was fetched always has a host"),
        ("Fetcher.get", '"CONTENT-TYPE"', _HEADER_CASE),
        (
            "Fetcher.get",
            'get("content-type", "XXXX")',
            "decode_body reads only a charset= parameter of the header; 'XXXX' holds none, like ''",
        ),
        ("Fetcher._request_with_retries", '"RETRY-AFTER"', _HEADER_CASE),
        ("Fetcher._request_with_retries", "raise AssertionError(", _UNREACHABLE),
        (
            "Fetcher._wait_turn",
            "hostname or \"\").upper()",
            "the host only keys the last-request times, read and written through the same expression: "
            "upper and lower case group hosts alike",
        ),
        ("Fetcher._wait_turn", 'hostname or "XXXX"', "a URL that reaches the wait has a host (httpx refuses one without)"),
    ],
    "crawl_robots": [
        ("_prepare", 'line.split("#", )[0]', _SPLIT_FIRST),
        ("_prepare", 'line.split("#", 2)[0]', _SPLIT_FIRST),
        (
            "_prepare",
            "value = None",
            "value is only compared with math.inf, which neither 0.0 nor None equals",
        ),
        ("_prepare", "value = 1.0", "value is only compared with math.inf, which neither 0.0 nor 1.0 equals"),
        ("_unknown_record", 'line.split("#", )[0]', _SPLIT_FIRST),
        ("_unknown_record", 'line.split("#", 2)[0]', _SPLIT_FIRST),
        (
            "_unknown_record",
            'line.rsplit("#", 1)[0]',
            "it differs only on lines whose first '#' comes before their first ':'; protego reads those as a "
            "comment or a colon-less line, which never ends a group, so keeping or dropping them is the same",
        ),
        (
            "_unknown_record",
            'line.split("XX#XX", 1)[0]',
            "it differs only on lines whose first '#' comes before their first ':'; protego reads those as a "
            "comment or a colon-less line, which never ends a group, so keeping or dropping them is the same",
        ),
        ("request_target", 'url.split("#", )[0]', _SPLIT_FIRST),
        ("request_target", 'url.split("#", 2)[0]', _SPLIT_FIRST),
        (
            "request_target",
            'url.find("?", None)',
            "the skipped prefix is '//' or a scheme and '://', and a scheme holds no '?'",
        ),
        (
            "request_target",
            'url.find("?", )',
            "the skipped prefix is '//' or a scheme and '://', and a scheme holds no '?'",
        ),
        ("request_target", "query <= slash", "'?' and '/' never sit at the same index"),
        ("robots_text", 'content.decode(errors="replace")', "bytes.decode defaults to UTF-8"),
        ("robots_text", '"UTF-8"', "Python's codec names are case-insensitive"),
        (
            "Robots.can_fetch",
            "XXhttp://robots.invalidXX",
            "protego reads only the path of the URL; 'xxhttp' is as good a scheme and the host is not used",
        ),
        (
            "Robots.can_fetch",
            "HTTP://ROBOTS.INVALID",
            "scheme and host are case-insensitive and protego reads only the path",
        ),
    ],
}


# Survivors that are real bugs, on a path no test on this machine reaches (a GPU-only path): (function,
# a piece of the mutated line, why, and what would catch it). They stay counted as survived, with the
# explanation written beside them in the JSON.
_GPU_COMPILE = (
    "compiled=True is the GPU runs' path (train.compile); there this mutant's first optimizer step raises "
    "TypeError (torch.compile without a function returns a decorator). Compiling the update on this "
    "CPU costs a minute per test run of every MasterAdamW.__init__ mutant, so no CPU test takes it"
)
_GPU_DEVICE = (
    "on this CPU-only machine every tensor is on the CPU, the default device; on a GPU this mutant leaves a "
    "tensor on the CPU beside CUDA ones and the step fails (the align stage's GPU runs)"
)
_CUDA_MEMORY = (
    "the CUDA branch (a card's total memory when train.memory_gib is unset) runs only on a GPU; here "
    "torch.cuda is not available, so `sanchaek train --plan` and train's check on the GPU runs are its tests"
)
UNREACHED_HERE: dict[str, list[tuple[str, str, str]]] = {
    "model_sampling": [
        ("ban_repeated_ngrams", "torch.arange(n - 1, device=None)", _GPU_DEVICE),
        ("ban_repeated_ngrams", "torch.arange(n - 1, )", _GPU_DEVICE),
    ],
    "crawl_fetcher_send": [
        (
            "Fetcher.__post_init__",
            "verify: ssl.SSLContext | bool = None",
            "with verify=None httpcore builds ssl.create_default_context(), which also verifies certificates and "
            "honours SSL_CERT_FILE (tests/test_mutation_kills_fetcher.py); only the CA store differs (the "
            "system's instead of certifi's), which no test against 127.0.0.1 can see",
        ),
    ],
    "model_memory_plan": [
        *(
            ("available_memory", piece, _CUDA_MEMORY)
            for piece in (
                'getattr(None, "type", str(device))', 'getattr(device, "type", None)', '"XXtypeXX"', '"TYPE"',
                'str(None)) == "cuda"', '== "XXcudaXX"', '== "CUDA"', "props = None",
                "get_device_properties(None)", "float(None)",
            )
        ),
        *(
            ("plan_report", piece, _CUDA_MEMORY)
            for piece in (
                "device = None", "(torch.cuda.is_available()) and False", "torch.device(None)",
                'torch.device("XXcudaXX")', 'torch.device("CUDA")', "available_memory(t, None)",
            )
        ),
    ],
    "model_dpo": [
        ("sequence_logps", "arange(input_ids.size(0), device=None)", _GPU_DEVICE),
        ("sequence_logps", "arange(input_ids.size(0), )", _GPU_DEVICE),
        ("sequence_logps", "dtype=torch.float32, device=None)", _GPU_DEVICE),
        ("sequence_logps", "dtype=torch.float32, )", _GPU_DEVICE),
        ("PairBatch.to", "t.to(None, non_blocking=True)", _GPU_DEVICE),
        ("PairBatch.to", "t.to(non_blocking=True)", _GPU_DEVICE),
    ],
    "model_optim": [
        ("MasterAdamW.__init__", "torch.compile(None, dynamic=False)", _GPU_COMPILE),
        ("MasterAdamW.__init__", "torch.compile(dynamic=False)", _GPU_COMPILE),
    ],
}
