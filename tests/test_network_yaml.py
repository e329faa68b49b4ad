"""YAML constructs in network files: merge keys at every level, and the did-you-mean hints of
unknown layers, parameters and block fields."""

import pytest

from convcalc import ConvcalcError
from convcalc.network import evaluate

PLAIN = """
input: 3,16,16
layers:
  - conv2d: {out_channels: 8, kernel_size: 3, padding: 1, bias: false}
  - conv2d: {out_channels: 8, kernel_size: 3, padding: 1, bias: false, stride: 2}
  - residual:
      body:
        - conv2d: {out_channels: 8, kernel_size: 3, padding: 1, bias: false}
        - relu
      shortcut: []
  - sequential:
      layers:
        - conv2d: {out_channels: 4, kernel_size: 1}
  - sequential:
      layers:
        - conv2d: {out_channels: 4, kernel_size: 1}
"""

MERGED = {
    "a layer's parameters": """
input: 3,16,16
layers:
  - conv2d: &c3 {out_channels: 8, kernel_size: 3, padding: 1, bias: false}
  - conv2d: {<<: *c3, stride: 2}
  - residual:
      body:
        - conv2d: *c3
        - relu
      shortcut: []
  - sequential: &seq
      layers:
        - conv2d: {out_channels: 4, kernel_size: 1}
  - sequential: {<<: *seq}
""",
    "layer items": """
input: 3,16,16
layers:
  - &first {conv2d: {out_channels: 8, kernel_size: 3, padding: 1, bias: false}}
  - {conv2d: {out_channels: 8, kernel_size: 3, padding: 1, bias: false, stride: 2}, <<: *first}
  - residual: {body: [{<<: *first}, relu], shortcut: []}
  - &s {sequential: {layers: [conv2d: {out_channels: 4, kernel_size: 1}]}}
  - {<<: *s}
""",
    "a merge of a list of anchors, overriding a key": """
input: 3,16,16
layers:
  - conv2d: &base {out_channels: 8, kernel_size: 3, padding: 1, bias: false}
  - conv2d: {<<: [&k5 {kernel_size: 5, bias: true}, *base], kernel_size: 3, bias: false, stride: 2}
  - residual:
      body:
        - conv2d: {<<: [*base, *k5]}
        - relu
      shortcut: []
  - sequential: {layers: [conv2d: {out_channels: 4, kernel_size: 1}]}
  - sequential: {layers: [conv2d: {out_channels: 4, kernel_size: 1}]}
""",
    "block fields and nested blocks": """
input: 3,16,16
layers:
  - conv2d: {out_channels: 8, kernel_size: 3, padding: 1, bias: false}
  - conv2d: {out_channels: 8, kernel_size: 3, padding: 1, bias: false, stride: 2}
  - residual:
      <<: &res
        body:
          - conv2d: {out_channels: 8, kernel_size: 3, padding: 1, bias: false}
          - relu
      shortcut: []
  - sequential:
      <<: &one {layers: [conv2d: {out_channels: 4, kernel_size: 1}]}
  - sequential:
      <<: [*one]
      name: again
""",
}


def _shape_rows(report):
    return [(r["type"], r["output_shape"], r["params"], r["macs"]) for r in report.rows]


@pytest.mark.parametrize("where", list(MERGED))
def test_merge_keys_give_the_same_network(tmp_path, where):
    plain, merged = tmp_path / "plain.yaml", tmp_path / "merged.yaml"
    plain.write_text(PLAIN)
    merged.write_text(MERGED[where])
    assert _shape_rows(evaluate(merged)) == _shape_rows(evaluate(plain))


def test_merge_at_the_top_level(tmp_path):
    p = tmp_path / "net.yaml"
    p.write_text("name: top\n<<: {input: '3,16,16'}\nlayers: [relu]\n")
    r = evaluate(p)
    assert r.input_shape == (3, 16, 16) and r.network == "top"


def test_a_merged_key_is_overridden(tmp_path):
    p = tmp_path / "net.yaml"
    p.write_text("input: 3,16,16\nlayers:\n  - conv2d: &a {out_channels: 8, kernel_size: 3}\n  - conv2d: {<<: *a, kernel_size: 5}\n")
    r = evaluate(p)
    assert r.output_shape == (8, 10, 10)  # 16 - 2 = 14, then 14 - 4 = 10: the 5 won


def test_earlier_anchors_in_a_merge_list_win(tmp_path):
    p = tmp_path / "net.yaml"
    p.write_text("input: 3,16,16\nlayers:\n  - conv2d: {<<: [{kernel_size: 5}, {kernel_size: 3, out_channels: 2}]}\n")
    assert evaluate(p).output_shape == (2, 12, 12)  # YAML's rule: the first mapping in the list wins


@pytest.mark.parametrize(
    "text, message",
    [
        ("layers:\n  - conv2d: {out_channels: 4, kernal_size: 3}\n",
         r"conv2d has no parameter 'kernal_size' \(did you mean 'kernel_size'\? it takes out_channels, kernel_size, stride, padding"),
        ("layers:\n  - conv2d: {out_channels: 4, kernel_size: 3, zzz: 1}\n", r"conv2d has no parameter 'zzz' \(it takes out_channels, kernel_size"),
        ("layers:\n  - conv2dd: {out_channels: 4, kernel_size: 3}\n", r"unknown layer 'conv2dd' \(did you mean 'conv2d'\?\)"),
        ("layers:\n  - maxpol2d: {kernel_size: 2}\n", r"unknown layer 'maxpol2d' \(did you mean 'maxpool2d'\?\)"),
        ("layers:\n  - residul: {body: [relu]}\n", r"unknown layer 'residul' \(did you mean 'residual'\?\)"),
        ("layers:\n  - qqqqqq\n", r"unknown layer 'qqqqqq'$"),
        ("layers:\n  - residual: {bodi: [relu]}\n", r"residual has no 'bodi' \(did you mean 'body'\? it takes body, shortcut, repeat, name, save\)"),
        ("layer:\n  - relu\n", r"unknown key 'layer' \(did you mean 'layers'; known: name, input, layers\)"),
    ],
)
def test_unknown_names_get_hints(tmp_path, text, message):
    p = tmp_path / "net.yaml"
    p.write_text("input: 3,8,8\n" + text)
    with pytest.raises(ConvcalcError, match=message):
        evaluate(p)


def test_bare_values_set_the_layers_main_argument(tmp_path):
    """`- dropout: 0.1` is dropout's p, as nn.Dropout(0.1); a bare value where a layer has none is refused."""
    from convcalc.network import NetworkError, evaluate

    f = tmp_path / "n.yaml"
    f.write_text("input: 16\nlayers:\n  - leakyrelu: 0.2\n  - dropout: 0.1\n  - softmax: 1\n")
    report = evaluate(f)
    assert [r["type"] for r in report.rows] == ["leakyrelu", "dropout", "softmax"]
    f.write_text("input: 16\nlayers:\n  - dropout: 1.5\n")
    with pytest.raises(NetworkError, match=r"n.yaml:3: layers\[0\]: dropout: .*p"):
        evaluate(f)
    f.write_text("input: 3,8,8\nlayers:\n  - conv2d: 3\n")
    with pytest.raises(NetworkError, match="conv2d: takes a mapping of parameters, got 3"):
        evaluate(f)
