"""stdbp_plugin.norse: cell vs sequence module, Norse conventions, the silent-safe decoder."""

import warnings

import pytest
import torch

norse = pytest.importorskip("norse.torch")

from stdbp_plugin.functional import relpsp_linear  # noqa: E402
from stdbp_plugin.norse import (  # noqa: E402
    FirstSpikeTimeDecoder,
    ReLPSP,
    ReLPSPCell,
    ReLPSPParameters,
    ReLPSPState,
    potential,
)

INF = float("inf")


def _currents(steps=40, batch=4, n=6, seed=0):
    g = torch.Generator().manual_seed(seed)
    spikes = (torch.rand(steps, batch, 10, generator=g) < 0.1).double()
    w = (torch.randn(n, 10, generator=g, dtype=torch.float64) * 0.5 + 0.2).requires_grad_()
    return spikes, w


@pytest.mark.parametrize("silent_grad, with_bias", [(0.0, False), (1.0, True)])
def test_sequence_equals_stepping_the_cell_outputs_and_gradients(silent_grad, with_bias):
    spikes, w = _currents()
    p = ReLPSPParameters(tau_mem_inv=torch.as_tensor(1000.0), v_th=torch.as_tensor(1.0))
    bias = torch.linspace(-0.2, 0.3, 6, dtype=torch.float64) if with_bias else None
    cell = ReLPSPCell(p, bias=bias, silent_grad=silent_grad)
    seq = ReLPSP(p, bias=bias, silent_grad=silent_grad)
    r = torch.randn(40, 4, 6, dtype=torch.float64)

    state, zs = None, []
    for x in spikes:
        z, state = cell(x @ w.T, state)
        zs.append(z)
    z_cell = torch.stack(zs)
    t_cell = state.t_spike
    ((z_cell * r).sum() + torch.where(state.k_spike >= 0, t_cell, 0.0).sum()).backward()
    g_cell, w.grad = w.grad.clone(), None

    z_seq, state_seq = seq(spikes @ w.T)
    loss = (z_seq * r).sum() + torch.where(state_seq.k_spike >= 0, state_seq.t_spike, 0.0).sum()
    loss.backward()
    assert z_cell.sum() > 5  # something fired
    torch.testing.assert_close(z_seq, z_cell)
    torch.testing.assert_close(state_seq.s, state.s)
    torch.testing.assert_close(state_seq.t_spike, state.t_spike)
    assert torch.equal(state_seq.k_spike, state.k_spike) and (state_seq.k == 40).all()
    torch.testing.assert_close(w.grad, g_cell, rtol=1e-10, atol=1e-12)


def test_sequence_in_chunks_equals_one_sequence():
    spikes, w = _currents(seed=1)
    seq = ReLPSP()
    z_all, s_all = seq(spikes @ w.T)
    g_all = torch.autograd.grad(torch.where(s_all.k_spike >= 0, s_all.t_spike, 0.0).sum(), w)[0]
    z1, s1 = seq(spikes[:17] @ w.T)
    z2, s2 = seq(spikes[17:] @ w.T, s1)
    g_chunks = torch.autograd.grad(torch.where(s2.k_spike >= 0, s2.t_spike, 0.0).sum(), w)[0]
    torch.testing.assert_close(torch.cat([z1, z2]), z_all)
    torch.testing.assert_close(g_chunks, g_all)


def test_matches_the_event_driven_layer_in_seconds():
    """Gain g, threshold v_th == event layer with threshold v_th / g, times k dt in seconds."""
    torch.manual_seed(0)
    steps, dt = 30, 1e-3
    k_in = torch.randint(0, steps, (5, 10))
    spikes = torch.stack([(k_in == m).double() for m in range(steps)])
    w = torch.randn(4, 10, dtype=torch.float64) * 0.3 + 0.2
    p = ReLPSPParameters(tau_mem_inv=torch.as_tensor(200.0), v_th=torch.as_tensor(0.5))
    _, state = ReLPSP(p, dt)(spikes @ w.T)
    t_ref = relpsp_linear(k_in.double() * dt, w, None, 0.5 / 200.0, backend="torch")
    inside = t_ref < steps * dt
    assert inside.any()
    torch.testing.assert_close(state.t_spike[inside], t_ref[inside])
    assert (state.k_spike[~inside] < 0).all()
    v = potential(state, p, dt)
    assert v.shape == (5, 4)


def test_sequential_state_threads_the_state_and_works_with_norse_encoders():
    torch.manual_seed(0)
    x = torch.rand(3, 8)
    encoder = norse.SpikeLatencyLIFEncoder(20)
    spikes = encoder(5 * x)
    lin = torch.nn.Linear(8, 4)
    torch.nn.init.normal_(lin.weight, 0.3, 0.1)
    model = norse.SequentialState(norse.Lift(lin), ReLPSP())
    z, states = model(spikes)
    assert z.shape == (20, 3, 4) and isinstance(states[1], ReLPSPState)
    stepped = norse.SequentialState(lin, ReLPSPCell())
    state, zs = None, []
    for x_k in spikes:
        z_k, state = stepped(x_k, state)
        zs.append(z_k)
    torch.testing.assert_close(torch.stack(zs), z)
    assert z.sum() > 0


def test_decoder_backward_works_with_silent_neurons_where_norse_fails():
    spikes = torch.zeros(10, 2, 3)
    spikes[4, 0, 0] = 1
    spikes.requires_grad_()
    t = FirstSpikeTimeDecoder(dt=1e-3)(spikes)
    assert t[0, 0].item() == pytest.approx(4e-3) and torch.isinf(t[1]).all()
    t[torch.isfinite(t)].sum().backward()
    assert spikes.grad[4, 0, 0] == pytest.approx(-1e-3)
    filled = FirstSpikeTimeDecoder(dt=1e-3, silent_time=0.05)(spikes)
    assert filled[1, 2].item() == pytest.approx(0.05)
    # Norse 1.1.0's decoder: backward raises as soon as a neuron is silent
    norse_t = norse.SpikesToTimesDecoder()(spikes)
    with pytest.raises(RuntimeError):
        norse_t[torch.isfinite(norse_t)].sum().backward()


@pytest.mark.parametrize(
    "make, match",
    [
        (lambda: ReLPSPCell(dt=0.0), "dt"),
        (lambda: ReLPSP(ReLPSPParameters(v_th=torch.as_tensor(-1.0))), "v_th"),
        (lambda: ReLPSP(ReLPSPParameters(tau_mem_inv=torch.as_tensor(0.0))), "tau_mem_inv"),
        (lambda: ReLPSP(p=(1.0, 2.0)), "ReLPSPParameters"),
        (lambda: ReLPSP()(torch.zeros(3)), "input_tensor"),
        (lambda: ReLPSPCell()(torch.zeros(3), state=(1, 2)), "state"),
    ],
)
def test_bad_arguments_raise_value_error(make, match):
    with pytest.raises(ValueError, match=match):
        make()


# ---- literal swap of Norse's LIF classes ----------------------------------------------------


def _latency_spikes(steps=30, batch=5, n_in=10, seed=0):
    g = torch.Generator().manual_seed(seed)
    k_in = torch.randint(0, steps, (batch, n_in), generator=g)
    spikes = torch.stack([(k_in == m).double() for m in range(steps)])
    w = torch.randn(4, n_in, generator=g, dtype=torch.float64) * 0.3 + 0.2
    return k_in, spikes, w


@pytest.mark.parametrize("dt", [1e-3, 5e-4])
def test_lif_parameters_give_gain_one_over_dt_and_threshold_v_th_dt(dt):
    """ReLPSP(p=LIFParameters(v_th), dt) == event-driven layer with threshold v_th * dt."""
    k_in, spikes, w = _latency_spikes()
    v_th = 12.0
    _, state = ReLPSP(p=norse.LIFParameters(v_th=torch.as_tensor(v_th)), dt=dt)(spikes @ w.T)
    t_ref = relpsp_linear(k_in.double() * dt, w, None, v_th * dt, backend="torch")
    inside = t_ref < 30 * dt
    assert inside.any() and (~inside).any()
    torch.testing.assert_close(state.t_spike[inside], t_ref[inside])
    assert (state.k_spike[~inside] < 0).all()
    # same neuron written with ReLPSPParameters: gain 1/dt, same v_th
    p = ReLPSPParameters(tau_mem_inv=torch.as_tensor(1 / dt), v_th=torch.as_tensor(v_th))
    z_ref, state_ref = ReLPSP(p, dt)(spikes @ w.T)
    torch.testing.assert_close(state.t_spike, state_ref.t_spike)
    torch.testing.assert_close(state.v, state_ref.v)


def test_literal_swap_forms_are_accepted_without_warning_for_defaults():
    x = torch.rand(6, 3, 4)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        mods = [
            ReLPSPCell(norse.LIFParameters(v_th=torch.as_tensor(0.5))),  # positional
            ReLPSPCell(p=norse.LIFParameters(v_th=torch.as_tensor(0.5)), dt=1e-3),
            ReLPSPCell(p=norse.LIFBoxParameters(v_th=torch.as_tensor(0.5)), dt=1e-3),
            ReLPSPCell(p=ReLPSPParameters(v_th=torch.as_tensor(0.5))),
        ]
        seqs = [
            ReLPSP(p=norse.LIFParameters(v_th=torch.as_tensor(0.5)), dt=1e-3),
            ReLPSP(norse.LIFParameters(v_th=0.5), dt=1e-3, record_states=False),
        ]
    z_ref, _ = seqs[0](x)
    assert z_ref.sum() > 0
    for cell in mods:
        state, zs = None, []
        for x_k in x:
            z, state = cell(x_k, state)
            zs.append(z)
        torch.testing.assert_close(torch.stack(zs), z_ref)
    torch.testing.assert_close(seqs[1](x)[0], z_ref)


def test_default_p_follows_dt_like_norse_defaults():
    x = torch.rand(8, 3, 4, dtype=torch.float64)
    for dt in (1e-3, 1e-4):
        z_none, s_none = ReLPSP(dt=dt)(x)
        z_lif, s_lif = ReLPSP(norse.LIFParameters(), dt=dt)(x)
        torch.testing.assert_close(z_none, z_lif)
        torch.testing.assert_close(s_none.t_spike, s_lif.t_spike)
    assert ReLPSPCell().p == ReLPSPParameters()  # gain 1000/s = 1/dt at dt = 1 ms, as before


def test_ignored_lif_fields_are_named_in_one_warning_pointing_at_the_caller():
    p = norse.LIFParameters(
        tau_syn_inv=torch.as_tensor(100.0),
        tau_mem_inv=torch.as_tensor(50.0),
        v_th=torch.as_tensor(0.5),
        v_reset=torch.as_tensor(-0.1),
        method="tanh",
        alpha=torch.as_tensor(100.0),  # the default: not named
    )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        cell = ReLPSPCell(p, dt=1e-3)
        seq = ReLPSP(p=p)
    assert len(caught) == 2 and all(w.category is UserWarning for w in caught)
    message = str(caught[0].message)
    for name in ("tau_syn_inv", "tau_mem_inv", "v_reset", "method"):
        assert name in message
    assert "alpha" not in message and "v_leak" not in message
    assert caught[0].filename == __file__ and caught[1].filename == __file__
    assert cell.ignored_parameters == ("tau_syn_inv", "tau_mem_inv", "v_reset", "method")
    assert seq.ignored_parameters == cell.ignored_parameters
    with pytest.warns(UserWarning, match="reset_method"):
        ReLPSPCell(norse.LIFBoxParameters(reset_method=lambda *a: a[1]))


@pytest.mark.parametrize(
    "make, match",
    [
        (lambda: ReLPSPCell(norse.LIFParameters(v_th=torch.as_tensor(0.0))), "v_th"),
        (lambda: ReLPSP(p=norse.LIFParameters(v_th=float("nan"))), "v_th"),
        (lambda: ReLPSPCell(norse.functional.lif.default_bio_parameters), "v_leak"),
        (lambda: ReLPSPCell(norse.LIParameters()), "v_th field"),
        (lambda: ReLPSPCell(norse.LIFParameters(), dt=-1e-3), "dt"),
        (lambda: ReLPSP(record_states=1), "record_states"),
        (
            lambda: ReLPSPCell()(torch.ones(2, 3), norse.LIFFeedForwardState(torch.ones(2, 3), 0)),
            "rest",
        ),
        (lambda: ReLPSP()(torch.zeros(3, 2, dtype=torch.complex64)), "input_tensor"),
    ],
)
def test_what_cannot_be_honoured_raises_value_error(make, match):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(ValueError, match=match):
            make()


def test_norse_only_kwargs_of_other_classes_are_refused_like_norse():
    """LIFCell / LIF / LIFBoxCell accept p, dt (and LIF record_states): so do we."""
    for bad in ("activation_sparse", "state_fallback", "sparse"):
        with pytest.raises(TypeError):
            ReLPSPCell(**{bad: None})
    with pytest.raises(TypeError):
        ReLPSPCell(record_states=True)


# ---- Norse conventions ----------------------------------------------------------------------


def test_state_v_is_the_potential_and_crosses_v_th_at_the_spike_step():
    _, spikes, w = _latency_spikes()
    p = norse.LIFParameters(v_th=torch.as_tensor(12.0))
    z, states = ReLPSP(p, record_states=True)(spikes @ w.T)
    z_plain, final = ReLPSP(p)(spikes @ w.T)
    torch.testing.assert_close(z, z_plain)
    for name in ReLPSPState._fields:
        assert getattr(states, name).shape == (30, 5, 4)
        torch.testing.assert_close(getattr(states, name)[-1], getattr(final, name))
    torch.testing.assert_close(final.v, potential(final, p, 1e-3))
    k = final.k_spike
    fired = k >= 0
    assert fired.any()
    v_at = states.v.gather(0, k.clamp(min=0).unsqueeze(0)).squeeze(0)
    v_before = states.v.gather(0, (k - 1).clamp(min=0).unsqueeze(0)).squeeze(0)
    assert (v_at[fired] >= 12.0).all()
    assert (v_before[fired & (k > 0)] < 12.0).all()
    assert (~fired).any() and (states.v[:, ~fired] < 12.0).all()
    assert torch.equal(final.i, final.s)


def test_every_state_field_is_shaped_like_the_neurons_and_k_needs_no_device_sync():
    x = torch.rand(4, 2, 3)
    for module, inp, steps in ((ReLPSP(), x, 4), (ReLPSPCell(), x[0], 1)):
        _, state = module(inp)
        for field in state:
            assert field.shape == (2, 3)
        assert state.k.device.type == "cpu" and (state.k == steps).all()
    assert ReLPSPCell().initial_state(x[0]).v.shape == (2, 3)


def test_output_requires_grad_without_a_learnable_input_like_norse_lif():
    x = torch.ones(10, 2, 3)
    for module, inp in ((ReLPSP(), x), (ReLPSPCell(), x[0])):
        z, state = module(inp)
        assert z.requires_grad and state.v.grad_fn is not None
        z.sum().backward()
        with torch.no_grad():
            z, state = module(inp)
        assert not z.requires_grad and not state.v.requires_grad
    # with a learnable input nothing extra is added: the gradient is the usual one
    w = torch.ones(3, 3, requires_grad=True)
    z1, s1 = ReLPSP()(x @ w)
    assert s1.s.grad_fn is not None
    # Norse: not through its parameters (plain tensors) but through its initial state, whose
    # v is a leaf with requires_grad=True; with an explicit plain state nothing requires grad
    lif = norse.LIF()
    assert not any(torch.as_tensor(f).requires_grad for f in lif.p if not isinstance(f, str))
    lif_z, lif_s = lif(x)
    assert lif_z.requires_grad and lif_s.v.requires_grad
    lif_z, _ = lif(x, norse.LIFFeedForwardState(torch.zeros(2, 3), torch.zeros(2, 3)))
    assert not lif_z.requires_grad


def test_initial_state_equals_starting_from_none():
    x = torch.rand(6, 2, 3)
    for module, inp in ((ReLPSP(), x), (ReLPSPCell(), x[0])):
        z_none, s_none = module(inp)
        z, s = module(inp, module.initial_state(inp))
        torch.testing.assert_close(z, z_none)
        for a, b in zip(s, s_none, strict=True):
            torch.testing.assert_close(a, b)
        assert z.requires_grad


@pytest.mark.parametrize("kind", ["bool", "int", "sparse"])
def test_bool_int_and_sparse_inputs_are_converted_like_norse(kind):
    g = torch.Generator().manual_seed(0)
    x = torch.rand(12, 3, 5, generator=g) < 0.3
    ref_seq, _ = ReLPSP()(x.float())
    ref_cell, _ = ReLPSPCell()(x[0].float())
    inp = {"bool": x, "int": x.long(), "sparse": x.to_sparse()}[kind]
    z, state = ReLPSP()(inp)
    zc, state_c = ReLPSPCell()(inp[0] if kind != "sparse" else x[0].to_sparse())
    assert z.is_sparse == (kind == "sparse") and zc.is_sparse == (kind == "sparse")
    torch.testing.assert_close(z.to_dense(), ref_seq)
    torch.testing.assert_close(zc.to_dense(), ref_cell)
    assert state.v.dtype == torch.float32 and state_c.v.dtype == torch.float32


def test_a_norse_state_at_rest_starts_a_fresh_neuron():
    x = torch.rand(6, 2, 3)
    bias = torch.tensor([0.1, 0.2, 0.3])
    for module in (ReLPSP(bias=bias), ReLPSPCell(bias=bias)):
        inp = x if isinstance(module, ReLPSP) else x[0]
        z_none, s_none = module(inp)
        for rest in (
            norse.LIFFeedForwardState(torch.tensor(0.0), torch.zeros(2, 3)),
            norse.LIFBoxFeedForwardState(v=torch.zeros(2, 3)),
        ):
            z, s = module(inp, rest)
            torch.testing.assert_close(z, z_none)
            torch.testing.assert_close(s.v, s_none.v)


def test_convert_adapter_construction_keeps_working():
    p = ReLPSPParameters(tau_mem_inv=torch.as_tensor(1000.0), v_th=torch.as_tensor(0.7))
    bias = torch.zeros(4)
    for cls in (ReLPSPCell, ReLPSP):
        m = cls(p=p, dt=1e-3, bias=bias, silent_grad=1.0)
        assert m.p is p and m.dt == 1e-3 and isinstance(m.bias, torch.nn.Parameter)
        assert m.silent_grad == 1.0 and m.ignored_parameters == ()
