"""The poetry corpus: fetch the chinese-poetry package, clean and split it into jsonl records."""
