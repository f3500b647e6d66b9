"Property tests of the Sec. 3.2 kinematics (hypothesis), beyond the examples in nbs/01_grounding.ipynb."
import numpy as np
import pytest
from hypothesis import assume, given, settings, strategies as st
from hypothesis.extra.numpy import arrays

from st_vlm_repro.kinematics import (batch_clock_directions, batch_traveled_distance, batch_traveling_speed,
    clock_directions, direction_intervals, movement_direction, resample_track, traveled_distance, traveling_speed)

coords = st.floats(-200, 200, allow_nan=False, width=64)
tracks = st.integers(3, 40).flatmap(lambda n: arrays(np.float64, (n, 3), elements=coords))
angles = st.floats(0, 2*np.pi, allow_nan=False)

def _clock_angles(p, min_step=0.1):
    "Clockwise angles (hours) of each step from the reference, and step lengths: to avoid exact rounding ties."
    d = np.diff(p[:, :2], axis=0)
    L = np.hypot(*d.T)
    mv = L >= min_step
    if not mv.any():
        return np.zeros(0), L
    r = d[mv.argmax()]
    a = -np.degrees(np.arctan2(r[0]*d[:, 1] - r[1]*d[:, 0], d @ r)) / 30
    return a[mv], L

def _robust(p, min_step=0.1):
    "True when no step sits within float noise of an hour boundary or of the min_step threshold."
    a, L = _clock_angles(p, min_step)
    frac = np.abs(np.abs(a) % 1 - 0.5)
    return (frac > 1e-6).all() and (np.abs(L - min_step) > 1e-6).all()

def _rotz(p, th, shift):
    R = np.array([[np.cos(th), -np.sin(th), 0], [np.sin(th), np.cos(th), 0], [0, 0, 1]])
    return p @ R.T + shift

@settings(max_examples=200, deadline=None)
@given(tracks, angles, arrays(np.float64, 3, elements=coords))
def test_rigid_motion_keeps_distance_and_clocks(p, th, shift):
    "A rotation about the vertical axis plus a translation changes neither distances nor clock hours."
    q = _rotz(p, th, shift)
    t = 0.5*np.arange(len(p))
    assert traveled_distance(q, t) == pytest.approx(traveled_distance(p, t), rel=1e-9, abs=1e-7)
    assume(_robust(p) and _robust(q))
    np.testing.assert_array_equal(clock_directions(q), clock_directions(p))

@settings(max_examples=100, deadline=None)
@given(tracks, st.floats(-np.pi, np.pi), st.floats(-np.pi/2, np.pi/2))
def test_any_3d_rotation_keeps_distance(p, a, b):
    "Distance is a 3D length: any rotation keeps it."
    Rz = np.array([[np.cos(a), -np.sin(a), 0], [np.sin(a), np.cos(a), 0], [0, 0, 1]])
    Rx = np.array([[1, 0, 0], [0, np.cos(b), -np.sin(b)], [0, np.sin(b), np.cos(b)]])
    t = 0.5*np.arange(len(p))
    assert traveled_distance(p @ (Rx @ Rz).T, t) == pytest.approx(traveled_distance(p, t), rel=1e-9, abs=1e-7)

@settings(max_examples=200, deadline=None)
@given(tracks, st.data())
def test_distance_is_additive(p, data):
    "Distance over [s, m] plus distance over [m, e] is the distance over [s, e]."
    t = 0.5*np.arange(len(p))
    i = data.draw(st.integers(0, len(p) - 3))
    k = data.draw(st.integers(i + 2, len(p) - 1))
    j = data.draw(st.integers(i + 1, k - 1))
    whole = traveled_distance(p, t, t[i], t[k])
    parts = traveled_distance(p, t, t[i], t[j]) + traveled_distance(p, t, t[j], t[k])
    assert parts == pytest.approx(whole, rel=1e-9, abs=1e-9)
    assert traveling_speed(p, t, t[i], t[k]) == pytest.approx(whole / (t[k] - t[i]) * 3.6)

@settings(max_examples=300, deadline=None)
@given(tracks)
def test_mirroring_swaps_clock_hours(p):
    "Mirroring x → −x turns every hour h into 12 − h (3 ↔ 9; 12 and 6 stay); standing still stays 0."
    assume(_robust(p))
    c, m = clock_directions(p), clock_directions(p * [-1, 1, 1])
    expect = np.where(c == 0, 0, (12 - c) % 12)
    np.testing.assert_array_equal(m, np.where(expect == 0, np.where(c == 0, 0, 12), expect))

@settings(max_examples=100, deadline=None)
@given(tracks)
def test_batched_equals_per_track(p):
    "The batched API gives the per-track answers."
    t = 0.5*np.arange(len(p))
    B = np.stack([p, p[::-1]])
    np.testing.assert_allclose(batch_traveled_distance(B), [traveled_distance(p, t), traveled_distance(p[::-1], t)])
    np.testing.assert_allclose(batch_traveling_speed(B, t), [traveling_speed(p, t), traveling_speed(p[::-1], t)])
    np.testing.assert_array_equal(batch_clock_directions(B), [clock_directions(p), clock_directions(p[::-1])])

@settings(max_examples=100, deadline=None)
@given(tracks)
def test_intervals_cover_the_moving_steps(p):
    "Direction intervals are disjoint, in order, one hour each, and cover exactly the moving steps' time."
    t = 0.5*np.arange(len(p))
    iv = direction_intervals(p, t)
    c = clock_directions(p)
    assert sum(e - s for _, s, e in iv) == pytest.approx(0.5*(c > 0).sum())
    assert all(a[2] <= b[1] for a, b in zip(iv, iv[1:]))
    assert movement_direction(p) == (iv[-1][0] if iv else 0)

def test_known_tracks():
    "Hand-made tracks: a clockwise square loop turns right three times; a figure of a U-turn ends at 6."
    sq = np.array([[0, 0], [0, 5], [0, 10], [5, 10], [10, 10], [10, 5], [10, 0], [5, 0], [0, 0]], float)
    sq = np.c_[sq, np.zeros(len(sq))]
    assert clock_directions(sq).tolist() == [12, 12, 3, 3, 6, 6, 9, 9]
    assert movement_direction(sq) == 9
    uturn = np.c_[np.r_[np.zeros(5), np.full(5, 4.0)], np.r_[np.arange(5.0), np.arange(4.0, -1, -1)], np.zeros(10)]
    assert movement_direction(uturn) == 6

@settings(max_examples=100, deadline=None)
@given(st.floats(0.5, 5), st.integers(20, 200), st.floats(0, 0.49))
def test_resample_any_rate_straight_line(v, hz, t0):
    "A constant-velocity track sampled at any rate lands on the 0.5 s grid exactly, never past its data."
    t = t0 + np.arange(0, 10, 1 / hz)
    p = np.c_[v*t, np.zeros_like(t), np.zeros_like(t)]
    g, q = resample_track(t, p, max_gap=None)
    assert g[0] >= t[0] - 1e-6 and g[-1] <= t[-1] + 1e-6
    np.testing.assert_allclose(np.diff(g), 0.5)
    np.testing.assert_allclose(q[:, 0], v*g, atol=v*1e-6 + 1e-9)  # tol lets a grid time 1 µs outside take the end value
