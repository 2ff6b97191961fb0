"""A markdown answer with each construct the platforms render: headings, emphasis, link, lists, code."""

SAMPLE = """# Release notes

Some **bold** words and a [link](https://example.com/docs).

## Steps

1. Install it
2. Run it
   - with `--fast`
   - or slowly

```python
def hello():
    return "**not bold**"
```

| name | value |
|------|-------|
| a    | 1     |
"""
