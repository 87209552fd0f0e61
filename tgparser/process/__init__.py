"""Knowledge documents: every message cleaned, its language known, advertising and noise set
apart, a summary and key terms (`tgparser process`). See docs/process.md.

The builtin processor is offline and deterministic; the llm processor adds an OpenAI-compatible
model's summary, keywords and entities beside the builtin fields.
"""
