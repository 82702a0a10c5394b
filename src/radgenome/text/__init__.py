"""Text engine: sections, sentences, grounding, findings, disorders and labels."""
