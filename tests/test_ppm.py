"""PPM (IDyOM's variable-order Markov model): IDyOM's published distributions, the literal
reference implementation, the helpers in nats and the LTM + STM combination."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from noiseloss.errors import ParameterError
from noiseloss.models.ppm import (
    ESCAPES,
    LTM_DEFAULTS,
    LTM_STM_BIAS,
    PPM,
    STM_DEFAULTS,
    _ReferencePPM,
    combine,
    entropy,
    information_content,
)

ABRA = "abracadabra"
ALPHABET = "abcdr"
V2_ALPHABET = "abcdeilmnoprstw"
V2_SEQUENCES = ("abracadabra", "letlettertele", "assanissimassa", "mississippi", "wooloobooloo")

# Golden values, facts copied from pmcharrison/ppm (Harrison et al. 2020, "PPM-Decay") at commit
# d58e7598e02a6df8a4ef013f5e19987311295196, tests/testthat/data/ (as its tests use them):
#
# ESCAPE_GOLDEN: escape-<method>.R (IDyOM 1.5, Pearce 2005) and escape-<method>-update-excluded.R
#   (IDyOM development version of January 2020, update exclusion fixed), read by
#   tests/testthat/test-escape-methods.R: a fresh model reads a b r a c a d a b r a, learning as it
#   goes; row t is the distribution of symbol t over (a, b, c, d, r) given symbols 0..t-1.
#   Key: (escape method, update exclusion). Their test runs new_ppm_simple(5, order_bound = 100,
#   shortest_deterministic = TRUE) (5 is the alphabet size; IDyOM ran :order-bound nil).
# ESCAPE_V2_OBSERVED: escape-v2-<method>[-update-excluded].R, read by test-escape-methods-2.R: one
#   model reads the five V2_SEQUENCES one after the other (alphabet V2_ALPHABET); kept here is the
#   probability each row gave the symbol that came next (row t, column x_t), per sequence.
# ORDER_BOUND_GOLDEN: ppm-fix-0.R and ppm-fix-1.R, read by test-no-decay.R ("IDyOM PPM with
#   mixtures and order bound = 0, 1"): escape C, no update exclusion, a b r a c a d a b r a c.
ESCAPE_GOLDEN = {
    ("a", False): [  # escape-a.R
        (0.19999999, 0.19999999, 0.19999999, 0.19999999, 0.19999999),
        (0.59999996, 0.09999999, 0.09999999, 0.09999999, 0.09999999),
        (0.3846154, 0.3846154, 0.076923065, 0.076923065, 0.076923065),
        (0.2857143, 0.2857143, 0.071428575, 0.071428575, 0.2857143),
        (0.2413793, 0.5517242, 0.034482762, 0.034482762, 0.13793105),
        (0.33333334, 0.2, 0.2, 0.06666668, 0.2),
        (0.1891892, 0.35135135, 0.35135135, 0.027027022, 0.08108108),
        (0.33333334, 0.16666667, 0.16666667, 0.16666667, 0.16666667),
        (0.16129033, 0.2580645, 0.2580645, 0.2580645, 0.06451614),
        (0.2173913, 0.13043477, 0.08695651, 0.08695651, 0.47826087),
        (0.54545456, 0.13636366, 0.09090909, 0.09090909, 0.13636366),
    ],
    ("a", True): [  # escape-a-update-excluded.R
        (0.19999999, 0.19999999, 0.19999999, 0.19999999, 0.19999999),
        (0.59999996, 0.09999999, 0.09999999, 0.09999999, 0.09999999),
        (0.3846154, 0.3846154, 0.076923065, 0.076923065, 0.076923065),
        (0.2857143, 0.2857143, 0.071428575, 0.071428575, 0.2857143),
        (0.2413793, 0.5517242, 0.034482762, 0.034482762, 0.13793105),
        (0.33333334, 0.2, 0.2, 0.06666668, 0.2),
        (0.1891892, 0.35135135, 0.35135135, 0.027027022, 0.08108108),
        (0.33333334, 0.16666667, 0.16666667, 0.16666667, 0.16666667),
        (0.16129033, 0.2580645, 0.2580645, 0.2580645, 0.06451614),
        (0.23809524, 0.0952381, 0.0952381, 0.0952381, 0.47619048),
        (0.5555555, 0.1111111, 0.1111111, 0.1111111, 0.1111111),
    ],
    ("b", False): [  # escape-b.R
        (0.19999999, 0.19999999, 0.19999999, 0.19999999, 0.19999999),
        (0.2, 0.2, 0.2, 0.2, 0.2),
        (0.2, 0.2, 0.2, 0.2, 0.2),
        (0.19999999, 0.19999999, 0.19999999, 0.19999999, 0.19999999),
        (0.33333334, 0.16666667, 0.16666667, 0.16666667, 0.16666667),
        (0.27272728, 0.18181817, 0.18181817, 0.18181817, 0.18181817),
        (0.33333334, 0.16666667, 0.16666667, 0.16666667, 0.16666667),
        (0.25925925, 0.18518518, 0.18518518, 0.18518518, 0.18518518),
        (0.2857143, 0.17857143, 0.17857143, 0.17857143, 0.17857143),
        (0.27586207, 0.20689654, 0.1724138, 0.1724138, 0.1724138),
        (0.26666665, 0.19999999, 0.16666666, 0.16666666, 0.19999999),
    ],
    ("b", True): [  # escape-b-update-excluded.R
        (0.19999999, 0.19999999, 0.19999999, 0.19999999, 0.19999999),
        (0.2, 0.2, 0.2, 0.2, 0.2),
        (0.2, 0.2, 0.2, 0.2, 0.2),
        (0.19999999, 0.19999999, 0.19999999, 0.19999999, 0.19999999),
        (0.33333334, 0.16666667, 0.16666667, 0.16666667, 0.16666667),
        (0.27272728, 0.18181817, 0.18181817, 0.18181817, 0.18181817),
        (0.33333334, 0.16666667, 0.16666667, 0.16666667, 0.16666667),
        (0.25925925, 0.18518518, 0.18518518, 0.18518518, 0.18518518),
        (0.2857143, 0.17857143, 0.17857143, 0.17857143, 0.17857143),
        (0.2857143, 0.17857143, 0.17857143, 0.17857143, 0.17857143),
        (0.2, 0.2, 0.2, 0.2, 0.2),
    ],
    ("c", False): [  # escape-c.R
        (0.19999999, 0.19999999, 0.19999999, 0.19999999, 0.19999999),
        (0.59999996, 0.09999999, 0.09999999, 0.09999999, 0.09999999),
        (0.33333334, 0.33333334, 0.11111111, 0.11111111, 0.11111111),
        (0.25, 0.25, 0.125, 0.125, 0.25),
        (0.20000002, 0.53333336, 0.06666668, 0.06666668, 0.13333336),
        (0.26666665, 0.19999997, 0.19999997, 0.13333331, 0.19999997),
        (0.20833334, 0.2916667, 0.2916667, 0.083333336, 0.125),
        (0.25, 0.1875, 0.1875, 0.1875, 0.1875),
        (0.2093023, 0.21705426, 0.21705426, 0.21705426, 0.13953489),
        (0.19148937, 0.14893615, 0.12765956, 0.12765956, 0.40425533),
        (0.4347826, 0.1521739, 0.13043477, 0.13043477, 0.1521739),
    ],
    ("c", True): [  # escape-c-update-excluded.R
        (0.19999999, 0.19999999, 0.19999999, 0.19999999, 0.19999999),
        (0.59999996, 0.09999999, 0.09999999, 0.09999999, 0.09999999),
        (0.33333334, 0.33333334, 0.11111111, 0.11111111, 0.11111111),
        (0.25, 0.25, 0.125, 0.125, 0.25),
        (0.20000002, 0.53333336, 0.06666668, 0.06666668, 0.13333336),
        (0.26666665, 0.19999997, 0.19999997, 0.13333331, 0.19999997),
        (0.20833334, 0.2916667, 0.2916667, 0.083333336, 0.125),
        (0.25, 0.1875, 0.1875, 0.1875, 0.1875),
        (0.2093023, 0.21705426, 0.21705426, 0.21705426, 0.13953489),
        (0.20000002, 0.13333334, 0.13333334, 0.13333334, 0.40000004),
        (0.42857143, 0.14285715, 0.14285715, 0.14285715, 0.14285715),
    ],
    ("d", False): [  # escape-d.R
        (0.19999999, 0.19999999, 0.19999999, 0.19999999, 0.19999999),
        (0.59999996, 0.09999999, 0.09999999, 0.09999999, 0.09999999),
        (0.33333334, 0.33333334, 0.11111111, 0.11111111, 0.11111111),
        (0.25, 0.25, 0.125, 0.125, 0.25),
        (0.23529415, 0.52941185, 0.05882353, 0.05882353, 0.11764706),
        (0.31250003, 0.18750003, 0.18750003, 0.125, 0.18750003),
        (0.25, 0.2857143, 0.2857143, 0.07142857, 0.107142866),
        (0.29411766, 0.1764706, 0.1764706, 0.1764706, 0.1764706),
        (0.24489795, 0.21088435, 0.21088435, 0.21088435, 0.122448966),
        (0.2181818, 0.14545454, 0.1090909, 0.1090909, 0.41818187),
        (0.4716981, 0.15094338, 0.11320754, 0.11320754, 0.15094338),
    ],
    ("d", True): [  # escape-d-update-excluded.R
        (0.19999999, 0.19999999, 0.19999999, 0.19999999, 0.19999999),
        (0.59999996, 0.09999999, 0.09999999, 0.09999999, 0.09999999),
        (0.33333334, 0.33333334, 0.11111111, 0.11111111, 0.11111111),
        (0.25, 0.25, 0.125, 0.125, 0.25),
        (0.23529415, 0.52941185, 0.05882353, 0.05882353, 0.11764706),
        (0.31250003, 0.18750003, 0.18750003, 0.125, 0.18750003),
        (0.25, 0.2857143, 0.2857143, 0.07142857, 0.107142866),
        (0.29411766, 0.1764706, 0.1764706, 0.1764706, 0.1764706),
        (0.24489795, 0.21088435, 0.21088435, 0.21088435, 0.122448966),
        (0.23529409, 0.117647044, 0.117647044, 0.117647044, 0.4117647),
        (0.4666667, 0.13333334, 0.13333334, 0.13333334, 0.13333334),
    ],
    ("ax", False): [  # escape-ax.R
        (0.19999999, 0.19999999, 0.19999999, 0.19999999, 0.19999999),
        (0.46666667, 0.13333333, 0.13333333, 0.13333333, 0.13333333),
        (0.30434784, 0.30434784, 0.1304348, 0.1304348, 0.1304348),
        (0.2413793, 0.2413793, 0.13793103, 0.13793103, 0.2413793),
        (0.24999999, 0.4166667, 0.08333333, 0.08333333, 0.16666666),
        (0.26666665, 0.19999997, 0.19999997, 0.13333331, 0.19999997),
        (0.234375, 0.265625, 0.265625, 0.09375, 0.140625),
        (0.25, 0.1875, 0.1875, 0.1875, 0.1875),
        (0.22222222, 0.20987655, 0.20987655, 0.20987655, 0.14814815),
        (0.22857143, 0.17142858, 0.14285713, 0.14285713, 0.31428573),
        (0.38983053, 0.16949153, 0.13559322, 0.13559322, 0.16949153),
    ],
    ("ax", True): [  # escape-ax-update-excluded.R
        (0.19999999, 0.19999999, 0.19999999, 0.19999999, 0.19999999),
        (0.46666667, 0.13333333, 0.13333333, 0.13333333, 0.13333333),
        (0.30434784, 0.30434784, 0.1304348, 0.1304348, 0.1304348),
        (0.2413793, 0.2413793, 0.13793103, 0.13793103, 0.2413793),
        (0.24999999, 0.4166667, 0.08333333, 0.08333333, 0.16666666),
        (0.26666665, 0.19999997, 0.19999997, 0.13333331, 0.19999997),
        (0.234375, 0.265625, 0.265625, 0.09375, 0.140625),
        (0.25, 0.1875, 0.1875, 0.1875, 0.1875),
        (0.22222222, 0.20987655, 0.20987655, 0.20987655, 0.14814815),
        (0.23076923, 0.15384616, 0.15384616, 0.15384616, 0.30769232),
        (0.36, 0.16, 0.16, 0.16, 0.16),
    ],
}

ESCAPE_V2_OBSERVED = {
    ("a", False): [  # escape-v2-a.R
        [0.06666667, 0.033333324, 0.023255806, 0.25925925, 0.008403363, 0.33333337, 0.004830919,
         0.36956525, 0.25913623, 0.52112675, 0.6039607],
        [0.00735294, 0.007407405, 0.00757576, 0.070866145, 0.5058823, 0.50553507, 0.0609319,
         0.044386428, 0.038724374, 0.058004633, 0.26060608, 0.0177268, 0.68015414],
        [0.19806762, 0.0010881395, 0.040609144, 0.111398935, 0.0009842517, 0.0052910103, 0.06666667,
         0.32307696, 0.007185629, 0.0030303055, 0.192053, 0.15566625, 0.5948387, 0.5852809],
        [0.029940123, 0.030508475, 0.357631, 0.61237484, 0.5422359, 0.30408773, 0.7173795, 0.7056395,
         0.0020876823, 0.025641022, 0.05333333],
        [0.0061728335, 0.008695652, 0.030303037, 0.0338983, 0.013953489, 0.3151516, 0.008379886,
         0.027932955, 0.38281253, 0.35022357, 0.54077244, 0.6168224],
    ],
    ("a", True): [  # escape-v2-a-update-excluded.R
        [0.06666667, 0.033333324, 0.023255806, 0.25925925, 0.008403363, 0.33333337, 0.004830919,
         0.36956525, 0.25913623, 0.52356017, 0.6329114],
        [0.009708739, 0.009523813, 0.009523809, 0.087378636, 0.5072464, 0.5072463, 0.045226112,
         0.03225806, 0.03896104, 0.07359307, 0.2532637, 0.032258067, 0.6707616],
        [0.21854304, 0.0014903131, 0.054054063, 0.12500001, 0.0013210037, 0.0068027205, 0.08461539,
         0.32542375, 0.009756097, 0.003921568, 0.21008407, 0.15470497, 0.5831874, 0.58326054],
        [0.040650405, 0.04186046, 0.34138975, 0.58154863, 0.56849885, 0.29138172, 0.6868065,
         0.67670566, 0.0030211497, 0.038095243, 0.05050506],
        [0.009009002, 0.012345688, 0.040816326, 0.047619045, 0.019230766, 0.3070176, 0.0084033655,
         0.04444445, 0.37356326, 0.34909913, 0.53680986, 0.62925166],
    ],
    ("b", False): [  # escape-v2-b.R
        [0.06666667, 0.06666667, 0.06666666, 0.06666666, 0.051724147, 0.2222222, 0.047619034,
         0.27835047, 0.046296306, 0.042016808, 0.29230767],
        [0.035460994, 0.040000003, 0.044025153, 0.04761906, 0.04545455, 0.04347826, 0.083333336,
         0.080000006, 0.046511628, 0.069767445, 0.10714288, 0.05333333, 0.48000002],
        [0.16129033, 0.024999999, 0.03543307, 0.16858236, 0.028708138, 0.03787879, 0.061538458,
         0.07924528, 0.033587784, 0.040000003, 0.13432838, 0.08086253, 0.10144928, 0.11627905],
        [0.042253524, 0.055555556, 0.10958905, 0.25925925, 0.037499998, 0.29411763, 0.48440745,
         0.47839317, 0.037974678, 0.043771043, 0.08333333],
        [0.042904284, 0.04964539, 0.057471268, 0.064885505, 0.044321332, 0.06439394, 0.055267707,
         0.05624999, 0.123674914, 0.060000002, 0.06269591, 0.16666666],
    ],
    ("b", True): [  # escape-v2-b-update-excluded.R
        [0.06666667, 0.06666667, 0.06666666, 0.06666666, 0.051724147, 0.2222222, 0.047619034,
         0.27835047, 0.046296306, 0.046296306, 0.066666655],
        [0.046296306, 0.05000001, 0.05303031, 0.055555545, 0.052631572, 0.052631572, 0.052631576,
         0.049999993, 0.047619037, 0.090909086, 0.086956516, 0.086956516, 0.45000002],
        [0.16666669, 0.03225806, 0.04390244, 0.17452832, 0.035433073, 0.045045048, 0.071111105,
         0.09130434, 0.040366974, 0.046808507, 0.13559324, 0.07692308, 0.08333334, 0.13636366],
        [0.049999997, 0.065573774, 0.080645174, 0.08064517, 0.07317073, 0.24000002, 0.2962963,
         0.32384345, 0.0483871, 0.05284553, 0.076305225],
        [0.051587302, 0.05645161, 0.061475415, 0.06938776, 0.050632905, 0.068825915, 0.057034217,
         0.06854839, 0.11039795, 0.06658447, 0.06338028, 0.072289154],
    ],
    ("c", False): [  # escape-v2-c.R
        [0.06666667, 0.033333324, 0.034482762, 0.19047616, 0.017142856, 0.2333334, 0.017543858,
         0.24999997, 0.19291821, 0.50157726, 0.55555564],
        [0.025510209, 0.028571432, 0.03153153, 0.06896552, 0.4615385, 0.462963, 0.054545455,
         0.055555556, 0.036585364, 0.04938272, 0.19047621, 0.025531916, 0.64130443],
        [0.15384616, 0.012711862, 0.05047319, 0.09074731, 0.014943962, 0.030864196, 0.06666668,
         0.22083335, 0.0180791, 0.020754715, 0.1265823, 0.116242036, 0.47222215, 0.50993377],
        [0.048192777, 0.039682545, 0.24031009, 0.50450444, 0.48573574, 0.2281059, 0.6384236,
         0.65625006, 0.02189781, 0.04761905, 0.054263566],
        [0.03801169, 0.04516129, 0.057971016, 0.05263157, 0.036402572, 0.143695, 0.034205224,
         0.04556354, 0.16574587, 0.1968191, 0.37004408, 0.38476193],
    ],
    ("c", True): [  # escape-v2-c-update-excluded.R
        [0.06666667, 0.033333324, 0.034482762, 0.19047616, 0.017142856, 0.2333334, 0.017543858,
         0.24999997, 0.19291821, 0.5016949, 0.5648852],
        [0.030674847, 0.03333333, 0.035897437, 0.07692307, 0.45652166, 0.45652175, 0.04444444,
         0.04444444, 0.040816326, 0.061224476, 0.18055555, 0.03821655, 0.6282052],
        [0.15624999, 0.015706807, 0.059701502, 0.094827585, 0.01797304, 0.03546099, 0.075, 0.21927713,
         0.021621622, 0.024175823, 0.12676059, 0.11231882, 0.45098037, 0.49433103],
        [0.055555556, 0.047169812, 0.21818182, 0.45147678, 0.4766082, 0.21000002, 0.57654727,
         0.5995527, 0.027272727, 0.05614035, 0.0531401],
        [0.044673543, 0.050724644, 0.06177606, 0.058441564, 0.041666675, 0.13192183, 0.038140647,
         0.05732484, 0.1497934, 0.18260187, 0.33958334, 0.3319805],
    ],
    ("d", False): [  # escape-v2-d.R
        [0.06666667, 0.033333324, 0.034482762, 0.19047616, 0.014925367, 0.3030304, 0.014492754,
         0.34482762, 0.18780729, 0.50123453, 0.5874673],
        [0.019083971, 0.022222226, 0.02536232, 0.057142865, 0.469697, 0.4714286, 0.05555556,
         0.056338027, 0.02777778, 0.042857148, 0.19736843, 0.020512817, 0.73529416],
        [0.18181817, 0.007575758, 0.036697254, 0.106567524, 0.00929752, 0.022831049, 0.06341463,
         0.228125, 0.011267607, 0.014965987, 0.15841584, 0.11706782, 0.5176471, 0.5332031],
        [0.03669725, 0.03488372, 0.26256984, 0.55788517, 0.49648005, 0.28235295, 0.7391887, 0.75,
         0.015384614, 0.03652968, 0.05532503],
        [0.028888887, 0.03664921, 0.051282056, 0.048192766, 0.02247191, 0.16425121, 0.023936171,
         0.03421462, 0.24425882, 0.22376738, 0.4331607, 0.48426154],
    ],
    ("d", True): [  # escape-v2-d-update-excluded.R
        [0.06666667, 0.033333324, 0.034482762, 0.19047616, 0.014925367, 0.3030304, 0.014492754,
         0.34482762, 0.18780729, 0.5013851, 0.6135591],
        [0.025510209, 0.028571432, 0.03153153, 0.068965524, 0.46296296, 0.46296296, 0.03846153,
         0.037735857, 0.033333335, 0.06666668, 0.18333332, 0.04040404, 0.7238806],
        [0.19512193, 0.010204083, 0.047337282, 0.11783962, 0.012096773, 0.028248591, 0.07647059,
         0.227451, 0.014953271, 0.018803418, 0.1647059, 0.11333334, 0.4873096, 0.5179153],
        [0.045977004, 0.04545454, 0.23404257, 0.48796147, 0.4922919, 0.2626582, 0.672148, 0.6918278,
         0.021276597, 0.04761905, 0.0539499],
        [0.037356313, 0.044585988, 0.057553954, 0.05763688, 0.02870814, 0.14739883, 0.028419187,
         0.05571031, 0.21300255, 0.20854412, 0.40273982, 0.42355886],
    ],
    ("ax", False): [  # escape-v2-ax.R
        [0.06666667, 0.044444446, 0.04109588, 0.17171717, 0.022058824, 0.2333334, 0.020408168,
         0.24999997, 0.17718941, 0.35999998, 0.47188255],
        [0.01807229, 0.022222226, 0.026041664, 0.069306925, 0.3284133, 0.33333334, 0.07509881,
         0.0692588, 0.037924152, 0.054766733, 0.18811883, 0.032702237, 0.6660929],
        [0.1814346, 0.0059880237, 0.045454543, 0.13554215, 0.006525286, 0.017094018, 0.06666666,
         0.19999999, 0.017857144, 0.013008131, 0.1563981, 0.12589334, 0.40735182, 0.41514102],
        [0.03964757, 0.042253524, 0.24050634, 0.4774775, 0.39067054, 0.30564785, 0.70967746,
         0.70388347, 0.011583013, 0.037037037, 0.06810035],
        [0.019323671, 0.028571421, 0.04964539, 0.051779933, 0.024390245, 0.15478615, 0.026923075,
         0.03643725, 0.21812078, 0.20848052, 0.33877555, 0.43021584],
    ],
    ("ax", True): [  # escape-v2-ax-update-excluded.R
        [0.06666667, 0.044444446, 0.04109588, 0.17171717, 0.022058824, 0.2333334, 0.020408168,
         0.24999997, 0.17718941, 0.35807857, 0.46352932],
        [0.030674847, 0.03333333, 0.035897437, 0.07692307, 0.31868133, 0.31868133, 0.055762094,
         0.051094893, 0.050980393, 0.08333335, 0.17293233, 0.057471268, 0.64799994],
        [0.18367346, 0.009836063, 0.057692304, 0.14079422, 0.010471202, 0.02415459, 0.07804877,
         0.20000002, 0.023280425, 0.018691592, 0.15463917, 0.12019826, 0.37894738, 0.40671143],
        [0.050505057, 0.054393306, 0.20745343, 0.38337803, 0.37780803, 0.2765073, 0.60548884,
         0.6041577, 0.018633539, 0.050000004, 0.063926935],
        [0.029239763, 0.03846154, 0.057553954, 0.06228373, 0.032520324, 0.13907282, 0.032258067,
         0.059925098, 0.19874477, 0.19907406, 0.31789482, 0.35845897],
    ],
}

ORDER_BOUND_GOLDEN = {
    0: [  # ppm-fix-0.R
        (0.19999999, 0.19999999, 0.19999999, 0.19999999, 0.19999999),
        (0.59999996, 0.09999999, 0.09999999, 0.09999999, 0.09999999),
        (0.33333334, 0.33333334, 0.11111111, 0.11111111, 0.11111111),
        (0.25, 0.25, 0.125, 0.125, 0.25),
        (0.33333334, 0.22222221, 0.111111104, 0.111111104, 0.22222221),
        (0.26666665, 0.19999997, 0.19999997, 0.13333331, 0.19999997),
        (0.31250003, 0.18750003, 0.18750003, 0.125, 0.18750003),
        (0.25, 0.1875, 0.1875, 0.1875, 0.1875),
        (0.2727273, 0.18181819, 0.18181819, 0.18181819, 0.18181819),
        (0.2647059, 0.20588236, 0.1764706, 0.1764706, 0.1764706),
        (0.25714287, 0.19999999, 0.17142856, 0.17142856, 0.19999999),
        (0.2777778, 0.19444445, 0.16666667, 0.16666667, 0.19444445),
    ],
    1: [  # ppm-fix-1.R
        (0.19999999, 0.19999999, 0.19999999, 0.19999999, 0.19999999),
        (0.59999996, 0.09999999, 0.09999999, 0.09999999, 0.09999999),
        (0.33333334, 0.33333334, 0.11111111, 0.11111111, 0.11111111),
        (0.25, 0.25, 0.125, 0.125, 0.25),
        (0.20000002, 0.53333336, 0.06666668, 0.06666668, 0.13333336),
        (0.26666665, 0.19999997, 0.19999997, 0.13333331, 0.19999997),
        (0.20833334, 0.2916667, 0.2916667, 0.083333336, 0.125),
        (0.25, 0.1875, 0.1875, 0.1875, 0.1875),
        (0.2093023, 0.21705426, 0.21705426, 0.21705426, 0.13953489),
        (0.19148937, 0.14893615, 0.12765956, 0.12765956, 0.40425533),
        (0.4347826, 0.1521739, 0.13043477, 0.13043477, 0.1521739),
        (0.19230768, 0.2884615, 0.19230768, 0.19230768, 0.13461538),
    ],
}

# tests/testthat/test-no-decay.R: mean information content, bits, of each sequence when one model
# (escape C, PPM*) reads them one after the other; the alphabet is the sorted distinct symbols.
COUPERIN = ("45 52 57 60 64 69 45 52 57 60 64 69 45 45 44 52 60 60 59 64 64 71 45 57 76 74 72 71 72 "
            "72 72 72 72 72 72 72 52 64 69 69 71 71 71 71 71 71 50 52 54 55 52 53 52 50 48 48 47 69 "
            "71 72 55 74 62 67 48 67 69 71 57 72 72 57 64 65 72 72 72 60 62 66 71 71 62 68 66 68 64 "
            "64 64 64 59 59 60 64 68 68 69 69 50 49 49 50 59 64 64 65 69 47 48 50 52 53 50 50 52 60 "
            "64 69 52 60 60 59 69 69 68 68 68 45 52 57 61 64 69 45 52 57 62 61 64 69").split()
HINDEMITH = ("84 83 85 86 81 82 81 80 80 80 79 77 79 76 83 73 72 71 72 77 76 75 77 79 80 82 84 85 87 "
             "88 88 87 82 77 78 83 81 79 77 76 75 77 78 73 74 72 71 71 70 69 68 67 68 70 62 73 74 63 "
             "78 79 92 90 89 88 88 91 87 86 85 84 83 85 86 81 82 81 80 80 80 79 77 79 76 83 73 71 73 "
             "74 74 74 73 71 73 70 77 67 68 69 70 70 68 69 70 70 68 69 70 63 63 68 66 63 62 70 63 68 "
             "66 63 62 70 63 68 66 63 62").split()
MEAN_IC_BITS = [  # (sequences, update exclusion, mean IC of each in bits)
    (["abracadabra"] * 2, True, [2.4509745, 1.1457417]),
    (["abracadabra"] * 3, True, [2.4509745, 1.1457417, 0.8534344]),
    (["abracadabra", "bracadabra"], True, [2.4509745, 1.1973304]),
    (["abracadabra", "abrabrac"], True, [2.4509745, 1.4018788]),
    (["abracadabra", "abratbrac"], True, [2.591134, 1.8791169]),
    (["abracadabra", "abrabtrac"], True, [2.591134, 2.0285676]),
    (["abracadabra", "abrabrtac"], True, [2.591134, 1.8929263]),
    (["abracadabra", "abrabratc"], True, [2.591134, 1.7575804]),
    (["abracadabra", "abrabract"], True, [2.591134, 1.5876032]),
    ([COUPERIN], False, [4.195832]),  # Louis Couperin, unmeasured prelude no. 7
    ([HINDEMITH], False, [4.210231]),  # Hindemith, Acht Stücke für Flöte allein, VI
]


def codes(text, alphabet=ALPHABET):
    return [alphabet.index(c) for c in text]


# -- IDyOM's numbers --------------------------------------------------------------------------


@pytest.mark.parametrize("order_bound", [5, None])
@pytest.mark.parametrize("escape,update_exclusion", list(ESCAPE_GOLDEN))
def test_each_escape_method_reproduces_idyom_on_abracadabra(escape, update_exclusion, order_bound):
    model = PPM(5, order_bound=order_bound, escape=escape, update_exclusion=update_exclusion,
                shortest_deterministic=True)
    got = model.predict(codes(ABRA))
    np.testing.assert_allclose(got, ESCAPE_GOLDEN[escape, update_exclusion], rtol=0, atol=1e-5)
    np.testing.assert_allclose(got.sum(axis=1), 1.0, rtol=0, atol=1e-12)


@pytest.mark.parametrize("escape,update_exclusion", list(ESCAPE_V2_OBSERVED))
def test_each_escape_method_reproduces_idyom_across_five_sequences(escape, update_exclusion):
    model = PPM(len(V2_ALPHABET), escape=escape, update_exclusion=update_exclusion)
    for text, expected in zip(V2_SEQUENCES, ESCAPE_V2_OBSERVED[escape, update_exclusion],
                              strict=True):
        symbols = codes(text, V2_ALPHABET)
        got = model.predict(symbols)
        np.testing.assert_allclose(got[np.arange(len(symbols)), symbols], expected, rtol=0,
                                   atol=1e-5)


@pytest.mark.parametrize("order_bound", [0, 1])
def test_order_bounds_0_and_1_reproduce_idyom(order_bound):
    got = PPM(5, order_bound=order_bound).predict(codes(ABRA + "c"))
    np.testing.assert_allclose(got, ORDER_BOUND_GOLDEN[order_bound], rtol=0, atol=1e-5)


@pytest.mark.parametrize("texts,update_exclusion,expected", MEAN_IC_BITS)
def test_mean_information_content_of_sequences_read_in_turn_reproduces_idyom(
        texts, update_exclusion, expected):
    alphabet = sorted({s for text in texts for s in text})
    model = PPM(len(alphabet), update_exclusion=update_exclusion)
    got = [model.information_content([alphabet.index(s) for s in text]).mean() / math.log(2)
           for text in texts]
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-5)


def test_these_numbers_need_ppm_star_selection():
    """Without selecting the shortest deterministic context the golden values are missed."""
    model = PPM(5, update_exclusion=True, shortest_deterministic=False)
    for _ in range(2):
        got = model.information_content(codes(ABRA)).mean() / math.log(2)
    assert abs(got - 1.1457417) > 0.05


def test_defaults_are_idyoms():
    model = PPM(7)
    assert (model.order_bound, model.escape, model.update_exclusion, model.exclusion) == (
        None, "c", False, True)
    assert model.shortest_deterministic  # PPM*: unbounded
    assert not PPM(7, order_bound=5).shortest_deterministic  # IDyOM selects it only unbounded
    assert PPM(7, order_bound=5, shortest_deterministic=True).shortest_deterministic
    assert LTM_DEFAULTS == {"order_bound": None, "escape": "c", "update_exclusion": False}
    assert STM_DEFAULTS == {"order_bound": None, "escape": "ax", "update_exclusion": True}
    assert LTM_STM_BIAS == 7.0


# -- against the literal reference ------------------------------------------------------------


def random_corpus(rng, alphabet_size, lengths):
    return [rng.integers(0, alphabet_size, size=n) for n in lengths]


@pytest.mark.parametrize("order_bound", [0, 1, 3, None])
@pytest.mark.parametrize("escape", ESCAPES)
def test_matches_the_literal_reference_on_random_sequences(escape, order_bound):
    """Every option combination: a corpus, then pieces read with and without learning."""
    rng = np.random.default_rng(len(escape) * 10 + (order_bound or 7))
    for update_exclusion, shortest, exclusion in itertools.product(
            [False, True], [None, True, False], [True, False]):
        alphabet_size = int(rng.integers(2, 6))
        options = dict(order_bound=order_bound, escape=escape, update_exclusion=update_exclusion,
                       shortest_deterministic=shortest, exclusion=exclusion)
        fast, slow = PPM(alphabet_size, **options), _ReferencePPM(alphabet_size, **options)
        corpus = random_corpus(rng, alphabet_size, rng.integers(0, 25, size=4))
        fast.fit(corpus)
        slow.fit(corpus)
        for piece in random_corpus(rng, alphabet_size, [30, 1, 20]):
            update = bool(rng.integers(0, 2))
            np.testing.assert_allclose(fast.predict(piece, update=update),
                                       slow.predict(piece, update=update), rtol=0, atol=1e-12,
                                       err_msg=str(options))


def test_matches_the_reference_on_repetitive_melodies_with_long_contexts():
    """Repeated phrases: contexts seen once turn into counted ones, unbounded and bounded."""
    rng = np.random.default_rng(3)
    phrase = list(rng.integers(0, 8, size=12))
    pieces = [phrase * 3 + list(rng.integers(0, 8, size=5)) + phrase[:7] for _ in range(3)]
    for options in (dict(), dict(shortest_deterministic=False), dict(order_bound=4),
                    dict(order_bound=4, shortest_deterministic=True, escape="ax",
                         update_exclusion=True)):
        fast, slow = PPM(8, **options), _ReferencePPM(8, **options)
        for piece in pieces:
            np.testing.assert_allclose(fast.predict(piece), slow.predict(piece), rtol=0,
                                       atol=1e-12, err_msg=str(options))


def test_matches_the_reference_on_long_runs_of_one_symbol():
    """Runs of a repeated symbol of varying length: contexts that stay ambiguous for many
    orders (every order up to the longest run is blended), as a long-term and a short-term
    model, unbounded and bounded."""
    rng = np.random.default_rng(8)
    pieces = []
    for _ in range(3):
        piece = []
        for length in rng.integers(1, 40, size=6):
            piece += [int(rng.integers(1, 4))] + [0] * int(length)
        pieces.append(piece)
    for options in (LTM_DEFAULTS, STM_DEFAULTS, dict(order_bound=7, escape="d"),
                    dict(shortest_deterministic=False, escape="b", update_exclusion=True)):
        fast, slow = PPM(4, **options), _ReferencePPM(4, **options)
        fast.fit(pieces[:1])
        slow.fit(pieces[:1])
        for piece in pieces[1:]:
            for update in (False, True):
                np.testing.assert_allclose(fast.predict(piece, update=update),
                                           slow.predict(piece, update=update), rtol=0,
                                           atol=1e-12, err_msg=str(options))


def test_matches_the_reference_when_learning_piece_after_piece():
    """Each piece learned while it is read, then compiled with the earlier ones into tries of
    merging sizes: the model after many pieces equals one that learned them all at once."""
    rng = np.random.default_rng(9)
    pieces = [list(rng.integers(0, 5, size=int(n))) for n in rng.integers(5, 40, size=12)]
    for options in (STM_DEFAULTS, dict(order_bound=3, escape="ax", update_exclusion=True)):
        fast, slow = PPM(5, **options), _ReferencePPM(5, **options)
        for piece in pieces:
            np.testing.assert_allclose(fast.predict(piece), slow.predict(piece), rtol=0,
                                       atol=1e-12, err_msg=str(options))
        probe = list(rng.integers(0, 5, size=60))
        np.testing.assert_allclose(fast.predict(probe, update=False),
                                   PPM(5, **options).fit(pieces).predict(probe, update=False),
                                   rtol=0, atol=1e-12)
        assert len(fast._tries) > 1  # several tries of the pieces, merged as they grow


def test_compact_distributions_and_their_combination_equal_the_full_ones():
    """``_compact`` (the symbols seen, and one column for all others) and
    ``_combine_compact`` give ``predict`` and ``combine``'s numbers."""
    from noiseloss.models.ppm import _combine_compact

    rng = np.random.default_rng(10)
    ltm = PPM(30, **LTM_DEFAULTS).fit(random_corpus(rng, 12, [80, 80]))
    piece = rng.integers(5, 20, size=50)
    parts = [ltm._compact(piece, update=False), PPM(30, **STM_DEFAULTS)._compact(piece, True)]
    full = []
    for columns, probs in parts:
        wide = np.repeat(probs[:, -1:], 30, axis=1)
        wide[:, columns] = probs[:, :-1]
        full.append(wide)
    np.testing.assert_allclose(full[0], ltm.predict(piece, update=False), rtol=0, atol=1e-15)
    np.testing.assert_allclose(full[1], PPM(30, **STM_DEFAULTS).predict(piece), rtol=0,
                               atol=1e-15)
    columns, merged = _combine_compact(parts, size=30)
    wide = np.repeat(merged[:, -1:], 30, axis=1)
    wide[:, columns] = merged[:, :-1]
    np.testing.assert_allclose(wide, combine(full), rtol=0, atol=1e-12)


# -- behaviour ---------------------------------------------------------------------------------


@pytest.mark.parametrize("options", [dict(), dict(order_bound=3), STM_DEFAULTS,
                                     dict(order_bound=2, escape="b", exclusion=False),
                                     dict(escape="d", shortest_deterministic=False)])
def test_every_distribution_is_positive_and_sums_to_one(options):
    rng = np.random.default_rng(1)
    model = PPM(12, **options).fit(random_corpus(rng, 12, [200, 50, 0, 3]))
    for update in (False, True):
        got = model.predict(rng.integers(0, 12, size=150), update=update)
        assert got.shape == (150, 12)
        assert np.all(got > 0)
        np.testing.assert_allclose(got.sum(axis=1), 1.0, rtol=0, atol=1e-12)


def test_an_untrained_model_predicts_uniformly():
    np.testing.assert_allclose(PPM(4).predict([2], update=False), [[0.25] * 4])
    assert PPM(4).predict([]).shape == (0, 4)


def test_predict_without_update_leaves_the_model_unchanged():
    rng = np.random.default_rng(2)
    model = PPM(6, order_bound=3, escape="ax", update_exclusion=True)
    model.fit(random_corpus(rng, 6, [40, 40]))
    piece = rng.integers(0, 6, size=60)
    before = model.predict(piece, update=False)
    learned = model.symbols_learned
    np.testing.assert_array_equal(model.predict(piece, update=False), before)
    assert model.symbols_learned == learned
    with_update = model.predict(piece, update=True)
    np.testing.assert_array_equal(with_update[0], before[0])  # first row: nothing learned yet
    assert model.symbols_learned == learned + 60
    assert not np.allclose(model.predict(piece, update=False), before)


def test_predict_with_update_learns_like_fit():
    rng = np.random.default_rng(4)
    corpus = random_corpus(rng, 5, [30, 30])
    a, b = PPM(5, order_bound=3), PPM(5, order_bound=3)
    a.fit(corpus)
    for piece in corpus:
        b.predict(piece)
    probe = rng.integers(0, 5, size=40)
    np.testing.assert_array_equal(a.predict(probe, update=False), b.predict(probe, update=False))


def test_contexts_do_not_span_two_sequences():
    """Learning [0] then [1] must not teach the pair (0, 1): same as learning [1] then [0]."""
    one = PPM(3).fit([[0], [1]]).predict([0, 1], update=False)
    other = PPM(3).fit([[1], [0]]).predict([0, 1], update=False)
    np.testing.assert_allclose(one, other, rtol=0, atol=1e-15)


def test_a_repeated_pattern_becomes_predictable():
    model = PPM(10, order_bound=4).fit([[1, 2, 3, 4] * 25])
    got = model.predict([1, 2, 3, 4], update=False)
    assert got[1:, [2, 3, 4]].diagonal().min() > 0.9


# -- information content, entropy, combination ------------------------------------------------


def test_information_content_and_entropy_are_in_nats():
    dists = np.array([[0.25, 0.25, 0.25, 0.25], [0.5, 0.5, 0.0, 0.0], [1.0, 0.0, 0.0, 0.0]])
    np.testing.assert_allclose(information_content(dists, [3, 1, 0]),
                               [math.log(4), math.log(2), 0.0])
    np.testing.assert_allclose(entropy(dists), [math.log(4), math.log(2), 0.0])
    model = PPM(5)
    np.testing.assert_allclose(model.information_content(codes(ABRA)),
                               -np.log(np.array(ESCAPE_GOLDEN["c", False])[np.arange(11),
                                                                             codes(ABRA)]),
                               rtol=0, atol=1e-5)


def test_combine_hand_computed_example():
    """Two models over two symbols, bias 1, worked by hand.

    p1 = (0.5, 0.5): H1 = log 2, relative entropy 1, weight 1.
    p2 = (0.9, 0.1): H2 = -(0.9 log 0.9 + 0.1 log 0.1) = 0.3250830 nats; relative 0.3250830 /
      0.6931472 = 0.4689956; weight 0.4689956^-1 = 2.1322162.
    exponents: 1 / 3.1322162 = 0.3192628 and 2.1322162 / 3.1322162 = 0.6807372.
    p(0) / p(1) = (0.5 / 0.5)^0.3192628 * (0.9 / 0.1)^0.6807372 = 9^0.6807372 = 4.4626046,
      so p = (4.4626046 / 5.4626046, 1 / 5.4626046) = (0.8169371, 0.1830629).
    """
    got = combine([[0.5, 0.5], [0.9, 0.1]], bias=1)
    np.testing.assert_allclose(got, [0.8169371, 0.1830629], rtol=0, atol=1e-7)
    # bias 2: weight 0.4689956^-2 = 4.5463459, exponent 0.8197011, 9^0.8197011 = 6.0518...
    np.testing.assert_allclose(combine([[0.5, 0.5], [0.9, 0.1]], bias=2)[0], 0.8582788, atol=1e-7)


def test_combine_bias_zero_is_the_normalised_geometric_mean_and_default_bias_is_idyoms():
    rng = np.random.default_rng(5)
    dists = rng.dirichlet(np.ones(6), size=(3, 4))  # [M, T, A]
    geometric = np.exp(np.log(dists).mean(axis=0))
    np.testing.assert_allclose(combine(dists, bias=0),
                               geometric / geometric.sum(axis=-1, keepdims=True), rtol=1e-12)
    got = combine(dists)
    assert got.shape == (4, 6)
    np.testing.assert_allclose(got, combine(dists, bias=7.0))
    np.testing.assert_allclose(got.sum(axis=-1), 1.0)


def test_combine_favours_the_confident_model_and_a_certain_one_takes_all():
    flat, peaked = np.full(4, 0.25), np.array([0.7, 0.1, 0.1, 0.1])
    firsts = [combine([flat, peaked], bias=b)[0] for b in (0, 1, 2, 7, 30)]
    assert np.all(np.diff(firsts) > 0) and firsts[-1] < 0.7  # towards the peaked model's 0.7
    # bias 7: relative entropy of peaked 0.94045 / log 4 = 0.67839, weight 0.67839^-7 = 15.123,
    # exponent 15.123 / 16.123 = 0.93798: p(0) / p(1) = 7^0.93798 = 6.2042, p(0) = 6.2042 / 9.2042
    np.testing.assert_allclose(firsts[3], 0.67406, atol=1e-5)
    np.testing.assert_allclose(combine([flat, [0.0, 1.0, 0.0, 0.0]]), [0, 1, 0, 0])
    np.testing.assert_allclose(combine([flat, flat]), flat)


def test_combine_ltm_and_stm_predictions():
    rng = np.random.default_rng(6)
    corpus = random_corpus(rng, 8, [100] * 5)
    ltm = PPM(8, **LTM_DEFAULTS).fit(corpus)
    piece = rng.integers(0, 8, size=50)
    both = combine([ltm.predict(piece, update=False), PPM(8, **STM_DEFAULTS).predict(piece)])
    assert both.shape == (50, 8)
    np.testing.assert_allclose(both.sum(axis=1), 1.0)


# -- errors -----------------------------------------------------------------------------------


@pytest.mark.parametrize("options,match", [
    (dict(escape="e"), r"escape must be one of \['a', 'ax', 'b', 'c', 'd'\]"),
    (dict(order_bound=-1), r"order_bound must be in \[0"),
    (dict(order_bound=2.5), "order_bound must be an integer"),
    (dict(update_exclusion=1), "update_exclusion must be True or False"),
    (dict(exclusion="yes"), "exclusion must be True or False"),
    (dict(shortest_deterministic=0), "shortest_deterministic must be True, False or None"),
])
def test_bad_options_name_the_parameter(options, match):
    with pytest.raises(ParameterError, match=match):
        PPM(5, **options)


def test_bad_symbols_and_shapes_raise_parameter_errors():
    with pytest.raises(ParameterError, match="alphabet_size must be in"):
        PPM(0)
    model = PPM(3)
    with pytest.raises(ParameterError, match=r"symbols must be in \[0, 2\].*got 3"):
        model.predict([0, 3])
    with pytest.raises(ParameterError, match=r"sequences\[1\] symbols must be in .*got -1"):
        model.fit([[0], [-1]])
    with pytest.raises(ParameterError, match="integer symbols"):
        model.predict([0.5])
    with pytest.raises(ParameterError, match="one-dimensional"):
        model.predict([[0, 1]])
    with pytest.raises(ParameterError, match="list of sequences"):
        model.fit(np.array([0, 1]))
    with pytest.raises(ParameterError, match="one symbol per distribution"):
        information_content(np.full((2, 3), 1 / 3), [0])
    with pytest.raises(ParameterError, match="bias must be"):
        combine([[0.5, 0.5]], bias=-1)
    with pytest.raises(ParameterError, match="distributions must be"):
        combine([0.5, 0.5])
