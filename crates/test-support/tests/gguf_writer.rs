//! The tiny GGUF generator writes a well-formed GGUF v3 file. (That llama.cpp loads and runs it
//! is tested where llama.cpp lives: `crates/codexpc/tests/llama_engine.rs`.) Here an independent
//! minimal reader walks the file: header, every KV, every tensor info, the alignment of the data
//! section and of each tensor, and that the data section ends exactly at the end of the file.

// Test code: a panic with the failing value is the most useful failure.
#![allow(clippy::unwrap_used)]

use std::collections::HashMap;
use std::time::Instant;

use test_support::gguf::{
    HARMONY_SPECIAL_TOKENS, N_BPE_TOKENS, TinyGptOss, TinyVariant, VOCAB_SIZE, harmony_vocab,
    tiny_gguf_path,
};

#[derive(Debug, Clone, PartialEq)]
enum Value {
    Int(i64),
    F32(f32),
    Bool(bool),
    Str(String),
    Array(Vec<Value>),
}

struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl Reader<'_> {
    fn take(&mut self, n: usize) -> &[u8] {
        assert!(
            self.pos + n <= self.buf.len(),
            "truncated at {} (+{n})",
            self.pos
        );
        let s = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        s
    }
    fn u32(&mut self) -> u32 {
        u32::from_le_bytes(self.take(4).try_into().unwrap())
    }
    fn u64(&mut self) -> u64 {
        u64::from_le_bytes(self.take(8).try_into().unwrap())
    }
    fn string(&mut self) -> String {
        let n = self.u64() as usize;
        String::from_utf8(self.take(n).to_vec()).expect("GGUF strings are UTF-8")
    }
    fn value(&mut self, ty: u32) -> Value {
        match ty {
            4 => Value::Int(self.u32() as i64),
            5 => Value::Int(self.u32() as i32 as i64),
            6 => Value::F32(f32::from_le_bytes(self.take(4).try_into().unwrap())),
            7 => Value::Bool(self.take(1)[0] != 0),
            8 => Value::Str(self.string()),
            9 => {
                let elem = self.u32();
                let n = self.u64() as usize;
                Value::Array((0..n).map(|_| self.value(elem)).collect())
            }
            other => panic!("unexpected GGUF value type {other}"),
        }
    }
}

struct Parsed {
    kv: HashMap<String, Value>,
    tensors: Vec<(String, Vec<u64>, u32, u64)>,
}

fn parse(bytes: &[u8]) -> Parsed {
    let mut r = Reader { buf: bytes, pos: 0 };
    assert_eq!(r.take(4), b"GGUF");
    assert_eq!(r.u32(), 3, "GGUF version");
    let n_tensors = r.u64();
    let n_kv = r.u64();
    let mut kv = HashMap::new();
    for _ in 0..n_kv {
        let key = r.string();
        let ty = r.u32();
        let v = r.value(ty);
        assert!(kv.insert(key.clone(), v).is_none(), "duplicate key {key}");
    }
    let mut tensors = Vec::new();
    for _ in 0..n_tensors {
        let name = r.string();
        let n_dims = r.u32();
        let dims: Vec<u64> = (0..n_dims).map(|_| r.u64()).collect();
        let ty = r.u32();
        let off = r.u64();
        tensors.push((name, dims, ty, off));
    }
    let data_start = r.pos.div_ceil(32) * 32;
    assert!(
        bytes[r.pos..data_start].iter().all(|&b| b == 0),
        "padding is zeros"
    );
    // Each tensor aligned, in order, non-overlapping; the last one ends the file (after padding).
    let mut end = 0u64;
    for (name, dims, ty, off) in &tensors {
        assert_eq!(off % 32, 0, "{name} offset aligned");
        assert!(*off >= end, "{name} overlaps the previous tensor");
        let n: u64 = dims.iter().product();
        let len = match ty {
            0 => n * 4,
            8 => {
                assert_eq!(dims[0] % 32, 0, "{name}: q8_0 rows are whole blocks");
                n / 32 * 34
            }
            other => panic!("{name}: unexpected ggml type {other}"),
        };
        end = off + len;
    }
    assert_eq!(
        (data_start as u64 + end).div_ceil(32) * 32,
        bytes.len() as u64,
        "file size"
    );
    Parsed { kv, tensors }
}

fn int(p: &Parsed, key: &str) -> i64 {
    match p.kv.get(key) {
        Some(Value::Int(v)) => *v,
        other => panic!("{key}: {other:?}"),
    }
}

fn string(p: &Parsed, key: &str) -> String {
    match p.kv.get(key) {
        Some(Value::Str(v)) => v.clone(),
        other => panic!("{key}: {other:?}"),
    }
}

#[test]
fn ids_only_model_is_well_formed_gguf_with_gpt_oss_metadata() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ids.gguf");
    let t = Instant::now();
    TinyGptOss::ids_only().write_to(&path).unwrap();
    eprintln!("ids-only generation: {:?}", t.elapsed());
    let bytes = std::fs::read(&path).unwrap();
    let p = parse(&bytes);

    assert_eq!(string(&p, "general.architecture"), "gpt-oss");
    assert_eq!(string(&p, "tokenizer.ggml.model"), "none");
    assert_eq!(int(&p, "gpt-oss.vocab_size"), VOCAB_SIZE as i64);
    assert_eq!(int(&p, "gpt-oss.block_count"), 2);
    assert_eq!(int(&p, "gpt-oss.expert_count"), 4);
    assert_eq!(int(&p, "gpt-oss.attention.sliding_window"), 16);
    assert!(!p.kv.contains_key("tokenizer.ggml.tokens"));

    let names: Vec<&str> = p.tensors.iter().map(|t| t.0.as_str()).collect();
    assert_eq!(names.len(), 3 + 2 * 19);
    for required in [
        "token_embd.weight",
        "output.weight",
        "output_norm.weight",
        "blk.0.attn_sinks.weight",
        "blk.1.ffn_down_exps.bias",
        "blk.1.post_attention_norm.weight",
    ] {
        assert!(names.contains(&required), "missing tensor {required}");
    }
    let embd = p
        .tensors
        .iter()
        .find(|t| t.0 == "token_embd.weight")
        .unwrap();
    assert_eq!(embd.1, vec![32, VOCAB_SIZE as u64]);
    assert_eq!(embd.2, 8, "token_embd is q8_0");
    let down = p
        .tensors
        .iter()
        .find(|t| t.0 == "blk.0.ffn_down_exps.weight")
        .unwrap();
    assert_eq!(down.1, vec![64, 32, 4], "ggml order: [ff, n_embd, experts]");
    assert!(
        bytes.len() < 16 << 20,
        "file stays small: {} bytes",
        bytes.len()
    );
}

#[test]
fn same_seed_same_bytes_other_seed_other_weights() {
    let mut a = Vec::new();
    let mut b = Vec::new();
    let mut c = Vec::new();
    TinyGptOss::ids_only().write(&mut a).unwrap();
    TinyGptOss::ids_only().write(&mut b).unwrap();
    TinyGptOss::ids_only().with_seed(7).write(&mut c).unwrap();
    assert_eq!(a.len(), c.len());
    assert!(a == b, "generation is deterministic");
    assert!(a != c, "the seed changes the weights");
}

#[test]
fn full_vocab_has_harmony_special_tokens_and_bpe_merges() {
    let t = Instant::now();
    let vocab = harmony_vocab();
    eprintln!("o200k_harmony vocab + merges rebuilt in {:?}", t.elapsed());
    assert_eq!(vocab.tokens.len(), VOCAB_SIZE as usize);
    assert_eq!(vocab.token_types.len(), VOCAB_SIZE as usize);
    for &(id, name) in HARMONY_SPECIAL_TOKENS {
        assert_eq!(vocab.tokens[id as usize], name);
        assert_eq!(vocab.token_types[id as usize], 3, "{name} is CONTROL");
    }
    assert_eq!(vocab.tokens[200_013], "<|reserved_200013|>");
    assert_eq!(vocab.tokens[201_087], "<|reserved_201087|>");
    assert!(
        vocab.token_types[..N_BPE_TOKENS as usize]
            .iter()
            .all(|&t| t == 1)
    );
    // Byte-level tokens in GPT-2 form: rank 0 is "!", a space-prefixed word uses 'Ġ'.
    assert_eq!(vocab.tokens[0], "!");
    assert!(vocab.tokens.iter().any(|t| t == "Ġthe"));
    // One merge per multi-byte BPE token (199998 tokens - 256 single bytes), as in the real file.
    assert_eq!(vocab.merges.len(), 199_742);
    assert!(vocab.merges.iter().all(|m| m.split(' ').count() == 2));
    assert!(
        vocab.merges.contains(&"Ġ t".to_string()) || vocab.merges.contains(&"Ġt he".to_string())
    );

    // And the GGUF carries them.
    let mut bytes = Vec::new();
    TinyGptOss::full_vocab().write(&mut bytes).unwrap();
    let p = parse(&bytes);
    assert_eq!(string(&p, "tokenizer.ggml.model"), "gpt2");
    assert_eq!(string(&p, "tokenizer.ggml.pre"), "gpt-4o");
    assert_eq!(int(&p, "tokenizer.ggml.bos_token_id"), 199_998);
    assert_eq!(int(&p, "tokenizer.ggml.eos_token_id"), 200_002);
    assert_eq!(int(&p, "tokenizer.ggml.padding_token_id"), 199_999);
    match p.kv.get("tokenizer.ggml.tokens") {
        Some(Value::Array(items)) => {
            assert_eq!(items.len(), VOCAB_SIZE as usize);
            assert_eq!(items[200_006], Value::Str("<|start|>".into()));
        }
        other => panic!("tokens: {:?}", other.map(|_| "not an array")),
    }
}

#[test]
fn wrong_special_ids_variant_swaps_start_and_end() {
    let path = tiny_gguf_path(TinyVariant::WrongSpecialIds);
    let p = parse(&std::fs::read(path).unwrap());
    match p.kv.get("tokenizer.ggml.tokens") {
        Some(Value::Array(items)) => {
            assert_eq!(items[200_006], Value::Str("<|end|>".into()));
            assert_eq!(items[200_007], Value::Str("<|start|>".into()));
        }
        _ => panic!("no token list"),
    }
}

#[test]
fn cached_paths_are_stable_and_complete() {
    let a = tiny_gguf_path(TinyVariant::IdsOnly);
    let b = tiny_gguf_path(TinyVariant::IdsOnly);
    assert_eq!(a, b);
    let bytes = std::fs::read(&a).unwrap();
    // Complete (renamed into place only after the whole file was written).
    let p = parse(&bytes);
    assert_eq!(string(&p, "tokenizer.ggml.model"), "none");
    assert!(
        a.file_name().unwrap().to_string_lossy().contains("-v"),
        "versioned name: {a:?}"
    );
}

#[test]
fn long_context_variant_differs_from_the_final_loop_only_in_its_context_length() {
    let long = std::fs::read(tiny_gguf_path(TinyVariant::FinalChannelLoopLongContext)).unwrap();
    let short = std::fs::read(tiny_gguf_path(TinyVariant::FinalChannelLoop)).unwrap();
    let (long, short) = (parse(&long), parse(&short));
    assert_eq!(int(&long, "gpt-oss.context_length"), 32_768);
    assert_eq!(int(&short, "gpt-oss.context_length"), 4_096);
    assert_eq!(long.tensors, short.tensors);
}
