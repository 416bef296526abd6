#!/usr/bin/env python3
"""Reference BERT tokenizer: google-research/bert's FullTokenizer (tokenization.py), as plain Python.

Independent of the C code: it uses only the standard library (unicodedata, str.lower, str.split),
exactly as the original does, so it agrees with HF BertTokenizer's defaults too (vocabulary read as
HF's load_vocab reads it: text mode, universal newlines, a repeated token keeps its last id).

usage: bert_tokenizer_ref.py --vocab FILE [--no-lower-case] [--jsonl] < inputs > ids
  inputs: one text per line (UTF-8), or with --jsonl one JSON string per line;
  output: one line per input, the ids separated by spaces (--jsonl: a JSON array).
"""
import argparse
import json
import sys
import unicodedata


def load_vocab(path):
    vocab = {}
    with open(path, "r", encoding="utf-8") as f:
        for index, token in enumerate(f.readlines()):
            vocab[token.rstrip("\n")] = index
    return vocab


def is_whitespace(ch):
    return ch in " \t\n\r" or unicodedata.category(ch) == "Zs"


def is_control(ch):
    if ch in "\t\n\r":
        return False
    return unicodedata.category(ch).startswith("C")


def is_punctuation(ch):
    cp = ord(ch)
    if 33 <= cp <= 47 or 58 <= cp <= 64 or 91 <= cp <= 96 or 123 <= cp <= 126:
        return True
    return unicodedata.category(ch).startswith("P")


def is_chinese_char(cp):
    return (0x4E00 <= cp <= 0x9FFF or 0x3400 <= cp <= 0x4DBF or 0x20000 <= cp <= 0x2A6DF
            or 0x2A700 <= cp <= 0x2B73F or 0x2B740 <= cp <= 0x2B81F or 0x2B820 <= cp <= 0x2CEAF
            or 0xF900 <= cp <= 0xFAFF or 0x2F800 <= cp <= 0x2FA1F)


def whitespace_tokenize(text):
    text = text.strip()
    return text.split() if text else []


class BasicTokenizer:
    def __init__(self, do_lower_case):
        self.do_lower_case = do_lower_case

    def tokenize(self, text):
        text = self._clean_text(text)
        text = self._tokenize_chinese_chars(text)
        split_tokens = []
        for token in whitespace_tokenize(text):
            if self.do_lower_case:
                token = token.lower()
                token = self._run_strip_accents(token)
            split_tokens.extend(self._run_split_on_punc(token))
        return whitespace_tokenize(" ".join(split_tokens))

    @staticmethod
    def _run_strip_accents(text):
        text = unicodedata.normalize("NFD", text)
        return "".join(ch for ch in text if unicodedata.category(ch) != "Mn")

    @staticmethod
    def _run_split_on_punc(text):
        output, start_new_word = [], True
        for ch in text:
            if is_punctuation(ch):
                output.append([ch])
                start_new_word = True
            else:
                if start_new_word:
                    output.append([])
                start_new_word = False
                output[-1].append(ch)
        return ["".join(x) for x in output]

    @staticmethod
    def _tokenize_chinese_chars(text):
        out = []
        for ch in text:
            if is_chinese_char(ord(ch)):
                out.extend((" ", ch, " "))
            else:
                out.append(ch)
        return "".join(out)

    @staticmethod
    def _clean_text(text):
        out = []
        for ch in text:
            cp = ord(ch)
            if cp == 0 or cp == 0xFFFD or is_control(ch):
                continue
            out.append(" " if is_whitespace(ch) else ch)
        return "".join(out)


class WordpieceTokenizer:
    def __init__(self, vocab, unk_token="[UNK]", max_input_chars_per_word=100):
        self.vocab, self.unk_token, self.max_chars = vocab, unk_token, max_input_chars_per_word

    def tokenize(self, text):
        output_tokens = []
        for token in whitespace_tokenize(text):
            chars = list(token)
            if len(chars) > self.max_chars:
                output_tokens.append(self.unk_token)
                continue
            is_bad, start, sub_tokens = False, 0, []
            while start < len(chars):
                end, cur_substr = len(chars), None
                while start < end:
                    substr = "".join(chars[start:end])
                    if start > 0:
                        substr = "##" + substr
                    if substr in self.vocab:
                        cur_substr = substr
                        break
                    end -= 1
                if cur_substr is None:
                    is_bad = True
                    break
                sub_tokens.append(cur_substr)
                start = end
            if is_bad:
                output_tokens.append(self.unk_token)
            else:
                output_tokens.extend(sub_tokens)
        return output_tokens


class FullTokenizer:
    def __init__(self, vocab_file, do_lower_case=True):
        self.vocab = load_vocab(vocab_file)
        self.basic = BasicTokenizer(do_lower_case)
        self.wordpiece = WordpieceTokenizer(self.vocab)

    def encode(self, text):
        tokens = [t for b in self.basic.tokenize(text) for t in self.wordpiece.tokenize(b)]
        return [self.vocab[t] for t in tokens]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--vocab", required=True)
    ap.add_argument("--no-lower-case", action="store_true")
    ap.add_argument("--jsonl", action="store_true")
    args = ap.parse_args()
    tok = FullTokenizer(args.vocab, do_lower_case=not args.no_lower_case)
    data = sys.stdin.buffer.read()
    lines = data.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    out = []
    for raw in lines:
        text = json.loads(raw) if args.jsonl else raw.decode("utf-8")
        ids = tok.encode(text)
        out.append(json.dumps(ids, separators=(",", ":")) if args.jsonl else " ".join(map(str, ids)))
    sys.stdout.write("".join(line + "\n" for line in out))


if __name__ == "__main__":
    main()
