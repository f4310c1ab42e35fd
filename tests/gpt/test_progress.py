"""The time a run has left (gpt.progress.TimeLeft), driven by synthetic events at given times."""

import pytest

from gpt.progress import TimeLeft


def gpt_run(max_iters=2000, eval_interval=250, log_interval=10, pace=0.1, eval_seconds=3.0, warmup=10.0,
            first_eval=5.0, busier_from=None, first_step=0):
    """The events of a train-gpt run (resumed at first_step, if not 0) and the times they arrive: the evaluation at
    its first step (slow: warm-up), slow first steps, then `pace` seconds a step, an evaluation (and its checkpoint)
    of eval_seconds at each multiple of eval_interval, and the final one; from step busier_from on, each step takes
    twice as long. Yields (event, time, the seconds the run really had left)."""
    start = {"event": "start", "step": first_step, "max_iters": max_iters, "eval_interval": eval_interval}
    events, t = [(start, 0.0)], 0.0
    for step in range(first_step, max_iters):
        if step % eval_interval == 0:
            t += first_eval if step == first_step else eval_seconds
            events.append(({"event": "eval", "step": step, "val_loss": 1.0}, t))
        t += pace * (2 if busier_from is not None and step >= busier_from else 1) + (warmup if step == first_step
                                                                                       else 0)
        if (step + 1) % log_interval == 0 or step + 1 == max_iters:
            events.append(({"event": "step", "step": step + 1}, t))
    end = t + eval_seconds
    return [(event, at, end - at) for event, at in events]


def estimates(run, left=None):
    left = left or TimeLeft()
    return [(event, left.update(event, at), real) for event, at, real in run]


def test_no_estimate_until_steps_past_the_warm_up_are_measured():
    got = estimates(gpt_run())
    steps = [(event["step"], estimate) for event, estimate, _ in got if event["event"] == "step"]
    # step 10's stretch holds the warm-up (not measured); 10 -> 20 and 20 -> 30 are the first two stretches
    assert [estimate for _, estimate in steps[:2]] == [None, None] and steps[2][1] is not None
    assert all(estimate is None for event, estimate, _ in got[:3])  # start, the step-0 evaluation, step 10


def test_the_estimate_is_the_steps_left_at_the_pace_and_the_evaluations_left_at_their_cost():
    got = {(e["event"], e["step"]): (estimate, real) for e, estimate, real in estimates(gpt_run())}
    # at step 30: 1,970 steps at 0.1 s, and 8 evaluations (250 ... 1750, and the final one) at the step-0
    # evaluation's cost, warm-up and all (5 s): the only one measured yet
    assert got["step", 30][0] == pytest.approx(1970 * 0.1 + 8 * 5.0)
    # once the evaluation at 250 is measured (its stretch, less its steps at the pace): 3 s each
    assert got["step", 260][0] == pytest.approx(1740 * 0.1 + 7 * 3.0)
    assert got["step", 260][0] == pytest.approx(got["step", 260][1])  # what the run really had left
    # from then on the estimate holds to the end (the issue's: 5 min for a run of 28 s, 57 min for one of 5)
    for (kind, step), (estimate, real) in got.items():
        if kind == "step" and 260 <= step < 2000:
            assert estimate == pytest.approx(real, abs=3.0 + 1e-6), step  # within one evaluation's cost


def test_a_resumed_run_measures_from_its_own_warm_up():
    """Resumed at step 1,000: its first evaluation and steps are a warm-up again, and the steps left are counted
    from there."""
    got = [(e["step"], estimate) for e, estimate, _ in estimates(gpt_run(first_step=1000)) if e["event"] == "step"]
    assert [estimate for _, estimate in got[:2]] == [None, None]
    assert got[2] == (1030, pytest.approx(970 * 0.1 + 4 * 5.0))  # 1,250 1,500 1,750 and the final one


def test_the_pace_follows_a_machine_that_gets_busier():
    got = [(e["step"], estimate, real) for e, estimate, real in estimates(gpt_run(busier_from=1000))
           if e["event"] == "step"]
    before = next(estimate for step, estimate, _ in got if step == 990)
    assert before == pytest.approx(1010 * 0.1 + 5 * 3.0)  # it cannot know yet
    # a span of steps at the new pace later, and once an evaluation is measured at it, the estimate is the new pace's
    settled = next(k for k in range(250, 2000, 250) if k >= 1000 + TimeLeft().span / 0.2)
    later = [(estimate, real) for step, estimate, real in got if settled < step < 2000]
    assert later and all(estimate == pytest.approx(real, abs=3.0 + 1e-6) for estimate, real in later)


def test_a_run_too_short_to_measure_gets_no_estimate():
    # the 2-step run said "about 0 s"; 12 steps logged every 10 are not enough either
    for steps in (2, 12):
        assert all(estimate is None for _, estimate, _ in estimates(gpt_run(max_iters=steps, log_interval=10)))


def test_train_char_events_and_a_resumed_run():
    """train-char: a step event every 100 steps, an evaluation event instead at the multiples of eval_interval (its
    time in the stretch it ends). Resumed at step 5,000: the steps before are not this session's."""
    left, t = TimeLeft(), 0.0
    left.update({"event": "start", "step": 5000, "max_iters": 20_000, "eval_interval": 1000}, t)
    out = {}
    for step in range(5100, 20_001, 100):
        t += 100 * 0.003 + (1.0 if step % 1000 == 0 else 0.0) + (2.0 if step == 5100 else 0.0)  # warm-up: 2 s
        out[step] = left.update({"event": "eval" if step % 1000 == 0 else "step", "step": step}, t)
    assert out[5100] is None
    # 0.3 s per stretch of 100 steps after the first: 1 s of them (4 stretches) at step 5,500
    assert out[5400] is None and out[5500] == pytest.approx(14_500 * 0.003)  # no evaluation measured yet
    # the evaluation at 6,000 costs 1 s: 14 more (7,000 ... 20,000, the final one)
    assert out[6100] == pytest.approx(13_900 * 0.003 + 14 * 1.0)
    assert out[19_900] == pytest.approx(100 * 0.003 + 1.0)


def test_evaluations_more_often_than_step_events():
    """Every stretch holds an evaluation (train-char evaluating every 50 steps): their pace counts the evaluations."""
    left, t = TimeLeft(min_seconds=0.5), 0.0
    left.update({"event": "start", "step": 0, "max_iters": 1000, "eval_interval": 50}, t)
    got = {}
    for step in range(50, 1001, 50):
        t += 50 * 0.01 + 0.25 + (3.0 if step == 50 else 0.0)
        got[step] = left.update({"event": "eval", "step": step}, t)
    assert got[50] is None and got[100] is None and got[150] is not None
    assert got[150] == pytest.approx(850 * (0.75 / 50))
