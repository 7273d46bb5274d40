"""snnTorch's own neuron tests, re-typed with the class name substituted (the literal swap).

Sources (jeshraghian/snntorch): tests/test_snntorch/test_leaky.py (commit 764b7e5),
test_synaptic.py (01bcac7), test_alpha.py (5ab6ff0), test_lapicque.py (304497c). Only the class
name changed (``snn.Leaky`` -> ``ReLPSP``, ``snn.Synaptic`` -> ``ReLPSPSynaptic``, ``snn.Alpha``
-> ``ReLPSPAlpha``, ``snn.Lapicque`` -> ``ReLPSPLapicque``); the LIF-only arguments the
upstream fixtures pass (beta, alpha, reset_mechanism, surrogate_disable) stay in, as a user's
code would keep them: they are ignored with an IgnoredArgumentWarning (filtered here).

Left out, because they test LIF dynamics that a ReL-PSP neuron (no leak, no reset, fires once)
does not have; every other assertion of these files is kept:
- test_leaky: ``mem_rec[1] == mem_rec[0] * 0.5 + input_[1]`` (the leak beta = 0.5);
- test_synaptic: ``syn_rec[0] == 2 * syn_rec[1]`` (the synaptic decay alpha) and
  ``mem_rec[1] == mem_rec[0] * 0.5 + syn_rec[1]`` (the leak);
- test_alpha: ``syn_exc_rec[0] + syn_inh_rec[0] == 0`` (the alpha kernel starts at 0; the
  ReL-PSP split S t - P gives S dt after the first step) and the class-level
  ``pytest.raises(ValueError): snn.Alpha(0.5, 0.5)`` (alpha must exceed beta: a constraint on
  the alpha kernel, whose arguments the swap ignores);
- test_lapicque: the RC update ``mem_rec[1] == mem_rec[0] * (1 - dt / (R C)) + ...``.
Changed, because the swap refuses the argument (the ReL-PSP spike is binary):
- test_leaky_hidden_learn_graded_instance: upstream checks that
  ``learn_graded_spikes_factor=True`` makes a learnable factor; here construction must raise
  ``ValueError``.
"""

import pytest
import torch

snn = pytest.importorskip("snntorch")
import torch._dynamo as dynamo  # noqa: E402

from stdbp_plugin.snntorch import (  # noqa: E402
    ReLPSP,
    ReLPSPAlpha,
    ReLPSPLapicque,
    ReLPSPSynaptic,
)

pytestmark = pytest.mark.filterwarnings(
    "ignore::stdbp_plugin.snntorch.neurons.IgnoredArgumentWarning"
)


@pytest.fixture(scope="module")
def input_():
    return torch.Tensor([0.25, 0]).unsqueeze(-1)


# ---- test_leaky.py -----------------------------------------------------------------------
@pytest.fixture(scope="module")
def leaky_instance():
    return ReLPSP(beta=0.5)


@pytest.fixture(scope="module")
def leaky_instance_surrogate():
    return ReLPSP(beta=0.5, surrogate_disable=True)


@pytest.fixture(scope="module")
def leaky_reset_zero_instance():
    return ReLPSP(beta=0.5, reset_mechanism="zero")


@pytest.fixture(scope="module")
def leaky_reset_none_instance():
    return ReLPSP(beta=0.5, reset_mechanism="none")


@pytest.fixture(scope="module")
def leaky_hidden_instance():
    return ReLPSP(beta=0.5, init_hidden=True)


@pytest.fixture(scope="module")
def leaky_hidden_reset_zero_instance():
    return ReLPSP(beta=0.5, init_hidden=True, reset_mechanism="zero")


@pytest.fixture(scope="module")
def leaky_hidden_reset_none_instance():
    return ReLPSP(beta=0.5, init_hidden=True, reset_mechanism="none")


class TestLeaky:
    def test_leaky(self, leaky_instance, input_):
        mem = leaky_instance.init_leaky()

        mem_rec = []
        spk_rec = []

        for i in range(2):
            spk, mem = leaky_instance(input_[i], mem)
            mem_rec.append(mem)
            spk_rec.append(spk)

        # left out (leak): assert mem_rec[1] == mem_rec[0] * 0.5 + input_[1]
        assert spk_rec[0] == spk_rec[1]

    def test_leaky_reset(
        self,
        leaky_instance,
        leaky_reset_zero_instance,
        leaky_reset_none_instance,
    ):
        lif1 = leaky_instance
        lif2 = leaky_reset_zero_instance
        lif3 = leaky_reset_none_instance

        assert lif1.reset_mechanism_val == 0
        assert lif2.reset_mechanism_val == 1
        assert lif3.reset_mechanism_val == 2

        lif1.reset_mechanism = "zero"
        lif2.reset_mechanism = "none"
        lif3.reset_mechanism = "subtract"

        assert lif1.reset_mechanism_val == 1
        assert lif2.reset_mechanism_val == 2
        assert lif3.reset_mechanism_val == 0

    def test_leaky_init_hidden(self, leaky_hidden_instance, input_):
        spk_rec = []

        for i in range(2):
            spk = leaky_hidden_instance(input_[i])
            spk_rec.append(spk)

        assert spk_rec[0] == spk_rec[1]

    def test_leaky_init_hidden_reset_zero(self, leaky_hidden_reset_zero_instance, input_):
        spk_rec = []

        for i in range(2):
            spk = leaky_hidden_reset_zero_instance(input_[i])
            spk_rec.append(spk)

        assert spk_rec[0] == spk_rec[1]

    def test_leaky_init_hidden_reset_none(self, leaky_hidden_reset_none_instance, input_):
        spk_rec = []

        for i in range(2):
            spk = leaky_hidden_reset_none_instance(input_[i])
            spk_rec.append(spk)

        assert spk_rec[0] == spk_rec[1]

    def test_leaky_cases(self, leaky_hidden_instance, input_):
        with pytest.raises(TypeError):
            leaky_hidden_instance(input_, input_)

    def test_leaky_hidden_learn_graded_instance(self):
        # changed: a learnable graded spike factor is refused (binary spikes)
        with pytest.raises(ValueError, match="learn_graded_spikes_factor"):
            ReLPSP(beta=0.5, init_hidden=True, learn_graded_spikes_factor=True)

    def test_leaky_compile_fullgraph(self, leaky_instance_surrogate, input_):
        explanation = dynamo.explain(leaky_instance_surrogate)(input_[0])

        assert explanation.graph_break_count == 0


# ---- test_synaptic.py --------------------------------------------------------------------
@pytest.fixture(scope="module")
def synaptic_instance():
    return ReLPSPSynaptic(alpha=0.5, beta=0.5)


@pytest.fixture(scope="module")
def synaptic_instance_surrogate():
    return ReLPSPSynaptic(alpha=0.5, beta=0.5, surrogate_disable=True)


@pytest.fixture(scope="module")
def synaptic_reset_zero_instance():
    return ReLPSPSynaptic(alpha=0.5, beta=0.5, reset_mechanism="zero")


@pytest.fixture(scope="module")
def synaptic_reset_none_instance():
    return ReLPSPSynaptic(alpha=0.5, beta=0.5, reset_mechanism="none")


@pytest.fixture(scope="module")
def synaptic_hidden_instance():
    return ReLPSPSynaptic(alpha=0.5, beta=0.5, init_hidden=True)


@pytest.fixture(scope="module")
def synaptic_hidden_reset_zero_instance():
    return ReLPSPSynaptic(alpha=0.5, beta=0.5, init_hidden=True, reset_mechanism="zero")


@pytest.fixture(scope="module")
def synaptic_hidden_reset_none_instance():
    return ReLPSPSynaptic(alpha=0.5, beta=0.5, init_hidden=True, reset_mechanism="none")


class TestSynaptic:
    def test_synaptic(self, synaptic_instance, input_):
        syn, mem = synaptic_instance.init_synaptic()

        syn_rec = []
        mem_rec = []
        spk_rec = []

        for i in range(2):
            spk, syn, mem = synaptic_instance(input_[i], syn, mem)
            syn_rec.append(syn)
            mem_rec.append(mem)
            spk_rec.append(spk)

        # left out (synaptic decay, leak): assert syn_rec[0] == 2 * syn_rec[1]
        # and assert mem_rec[1] == mem_rec[0] * 0.5 + syn_rec[1]
        assert spk_rec[0] == spk_rec[1]

    def test_synaptic_reset(
        self,
        synaptic_instance,
        synaptic_reset_zero_instance,
        synaptic_reset_none_instance,
    ):
        lif1 = synaptic_instance
        lif2 = synaptic_reset_zero_instance
        lif3 = synaptic_reset_none_instance

        assert lif1.reset_mechanism_val == 0
        assert lif2.reset_mechanism_val == 1
        assert lif3.reset_mechanism_val == 2

        lif1.reset_mechanism = "zero"
        lif2.reset_mechanism = "none"
        lif3.reset_mechanism = "subtract"

        assert lif1.reset_mechanism_val == 1
        assert lif2.reset_mechanism_val == 2
        assert lif3.reset_mechanism_val == 0

    def test_synaptic_init_hidden(self, synaptic_hidden_instance, input_):
        spk_rec = []

        for i in range(2):
            spk = synaptic_hidden_instance(input_[i])
            spk_rec.append(spk)

        assert spk_rec[0] == spk_rec[1]

    def test_synaptic_init_hidden_reset_zero(self, synaptic_hidden_reset_zero_instance, input_):
        spk_rec = []

        for i in range(2):
            spk = synaptic_hidden_reset_zero_instance(input_[i])
            spk_rec.append(spk)

        assert spk_rec[0] == spk_rec[1]

    def test_synaptic_init_hidden_reset_none(self, synaptic_hidden_reset_none_instance, input_):
        spk_rec = []

        for i in range(2):
            spk = synaptic_hidden_reset_none_instance(input_[i])
            spk_rec.append(spk)

        assert spk_rec[0] == spk_rec[1]

    def test_synaptic_cases(self, synaptic_hidden_instance, input_):
        with pytest.raises(TypeError):
            synaptic_hidden_instance(input_, input_)

    def test_synaptic_compile_fullgraph(self, synaptic_instance_surrogate, input_):
        explanation = dynamo.explain(synaptic_instance_surrogate)(input_[0])

        assert explanation.graph_break_count == 0


# ---- test_alpha.py -----------------------------------------------------------------------
@pytest.fixture(scope="module")
def alpha_instance():
    return ReLPSPAlpha(alpha=0.6, beta=0.5, reset_mechanism="subtract")


@pytest.fixture(scope="module")
def alpha_reset_zero_instance():
    return ReLPSPAlpha(alpha=0.6, beta=0.5, reset_mechanism="zero")


@pytest.fixture(scope="module")
def alpha_reset_none_instance():
    return ReLPSPAlpha(alpha=0.6, beta=0.5, reset_mechanism="none")


@pytest.fixture(scope="module")
def alpha_hidden_instance():
    return ReLPSPAlpha(alpha=0.6, beta=0.5, init_hidden=True)


@pytest.fixture(scope="module")
def alpha_hidden_reset_zero_instance():
    return ReLPSPAlpha(alpha=0.6, beta=0.5, init_hidden=True, reset_mechanism="zero")


@pytest.fixture(scope="module")
def alpha_hidden_reset_none_instance():
    return ReLPSPAlpha(alpha=0.6, beta=0.5, init_hidden=True, reset_mechanism="none")


class TestAlpha:
    # left out (alpha-kernel constraint): with pytest.raises(ValueError): snn.Alpha(0.5, 0.5)

    def test_alpha(self, alpha_instance, input_):
        syn_exc, syn_inh, mem = alpha_instance.init_alpha()

        syn_exc_rec = []
        syn_inh_rec = []
        mem_rec = []
        spk_rec = []

        for i in range(2):
            spk, syn_exc, syn_inh, mem = alpha_instance(input_[i], syn_exc, syn_inh, mem)

            syn_exc_rec.append(syn_exc)
            syn_inh_rec.append(syn_inh)
            mem_rec.append(mem)
            spk_rec.append(spk)

        assert spk_rec[0] == spk_rec[1]
        # left out (alpha kernel starts at 0): assert syn_exc_rec[0] + syn_inh_rec[0] == 0
        assert syn_exc_rec[1] + syn_inh_rec[1] > 0
        assert mem_rec[0] < mem_rec[1]

    def test_alpha_reset(
        self,
        alpha_instance,
        alpha_reset_zero_instance,
        alpha_reset_none_instance,
    ):
        lif1 = alpha_instance
        lif2 = alpha_reset_zero_instance
        lif3 = alpha_reset_none_instance

        assert lif1.reset_mechanism_val == 0
        assert lif2.reset_mechanism_val == 1
        assert lif3.reset_mechanism_val == 2

        lif1.reset_mechanism = "zero"
        lif2.reset_mechanism = "none"
        lif3.reset_mechanism = "subtract"

        assert lif1.reset_mechanism_val == 1
        assert lif2.reset_mechanism_val == 2
        assert lif3.reset_mechanism_val == 0

    def test_alpha_init_hidden(self, alpha_hidden_instance, input_):
        spk_rec = []

        for i in range(2):
            spk = alpha_hidden_instance(input_[i])
            spk_rec.append(spk)

        assert spk_rec[0] == spk_rec[1]

    def test_alpha_init_hidden_reset_zero(self, alpha_hidden_reset_zero_instance, input_):
        spk_rec = []

        for i in range(2):
            spk = alpha_hidden_reset_zero_instance(input_[i])
            spk_rec.append(spk)

        assert spk_rec[0] == spk_rec[1]

    def test_alpha_init_hidden_reset_none(self, alpha_hidden_reset_none_instance, input_):
        spk_rec = []

        for i in range(2):
            spk = alpha_hidden_reset_none_instance(input_[i])
            spk_rec.append(spk)

        assert spk_rec[0] == spk_rec[1]

    def test_alpha_cases(self, alpha_hidden_instance, input_):
        with pytest.raises(TypeError):
            alpha_hidden_instance(input_, input_)


# ---- test_lapicque.py --------------------------------------------------------------------
@pytest.fixture(scope="module")
def lapicque_instance():
    return ReLPSPLapicque(beta=0.5)


@pytest.fixture(scope="module")
def lapicque_reset_zero_instance():
    return ReLPSPLapicque(beta=0.5, reset_mechanism="zero")


@pytest.fixture(scope="module")
def lapicque_reset_none_instance():
    return ReLPSPLapicque(beta=0.5, reset_mechanism="none")


@pytest.fixture(scope="module")
def lapicque_hidden_instance():
    return ReLPSPLapicque(beta=0.5, init_hidden=True)


@pytest.fixture(scope="module")
def lapicque_hidden_reset_zero_instance():
    return ReLPSPLapicque(beta=0.5, init_hidden=True, reset_mechanism="zero")


@pytest.fixture(scope="module")
def lapicque_hidden_reset_none_instance():
    return ReLPSPLapicque(beta=0.5, init_hidden=True, reset_mechanism="none")


class TestLapicque:
    def test_lapicque(self, lapicque_instance, input_):
        mem = lapicque_instance.init_lapicque()

        mem_rec = []
        spk_rec = []

        for i in range(2):
            spk, mem = lapicque_instance(input_[i], mem)
            mem_rec.append(mem)
            spk_rec.append(spk)

        # left out (RC update): assert mem_rec[1] == mem_rec[0] * (1 - time_step / (R * C))
        # + input_[1] * R * (1 / R * C * time_step)
        assert spk_rec[0] == spk_rec[1]

    def test_lapicque_reset(
        self,
        lapicque_instance,
        lapicque_reset_zero_instance,
        lapicque_reset_none_instance,
    ):
        lif1 = lapicque_instance
        lif2 = lapicque_reset_zero_instance
        lif3 = lapicque_reset_none_instance

        assert lif1.reset_mechanism_val == 0
        assert lif2.reset_mechanism_val == 1
        assert lif3.reset_mechanism_val == 2

        lif1.reset_mechanism = "zero"
        lif2.reset_mechanism = "none"
        lif3.reset_mechanism = "subtract"

        assert lif1.reset_mechanism_val == 1
        assert lif2.reset_mechanism_val == 2
        assert lif3.reset_mechanism_val == 0

    def test_lapicque_init_hidden(self, lapicque_hidden_instance, input_):
        spk_rec = []

        for i in range(2):
            spk = lapicque_hidden_instance(input_[i])
            spk_rec.append(spk)

        assert spk_rec[0] == spk_rec[1]

    def test_lapicque_init_hidden_reset_zero(self, lapicque_hidden_reset_zero_instance, input_):
        spk_rec = []

        for i in range(2):
            spk = lapicque_hidden_reset_zero_instance(input_[i])
            spk_rec.append(spk)

        assert spk_rec[0] == spk_rec[1]

    def test_lapicque_init_hidden_reset_none(self, lapicque_hidden_reset_none_instance, input_):
        spk_rec = []

        for i in range(2):
            spk = lapicque_hidden_reset_none_instance(input_[i])
            spk_rec.append(spk)

        assert spk_rec[0] == spk_rec[1]

    def test_lapicque_cases(self, lapicque_hidden_instance, input_):
        with pytest.raises(TypeError):
            lapicque_hidden_instance(input_, input_)
