"""Double deep-Q agent that writes an elpasolite one table coordinate at a time (Türk et al., section 2.3.3).

An episode takes 8 actions: row then group of the element on site A, then
B, C, D. The state is the 8-D composition vector of eq. 1 with the places not
chosen yet at 0 (eq. 1 never gives 0 for a real row or group, so "unset" is
unambiguous). Of the 8 action outputs, a row step offers rows 1-6 and a group
step only the groups that hold an element of the space in the chosen row:
the agent cannot name an empty table place, only repeat an element, which
makes the sample invalid. The reward (eq. 12) is 0 until the last action and
then +1 when the composition is in the agent's target class, -1 otherwise.

Training is offline (eq. 15, double DQN): the episodes are those that spell
the training compositions, drawn with probability inverse to their class
frequency; the target network is the policy network copied every
`target_sync` updates. Generation draws each action from softmax(beta * Q)
over the legal actions (eq. 16).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from compgen.elpasolite.space import ELEMENT_AT, N_GROUPS, N_ROWS, ROW_GROUP, decode, encode
from compgen.elpasolite.training import inverse_frequency_weights, mlp, run_updates
from compgen.training import pick_device, random_stream

N_ACTIONS = max(N_ROWS, N_GROUPS)  # 8
STEPS = 8
SCALE = np.array([N_ROWS, N_GROUPS] * 4)
# legal group actions after choosing row r (index r, 0 unused): the row's places holding an element of the space
GROUP_LEGAL = ELEMENT_AT[:, 1:] >= 0
ROW_LEGAL = np.arange(N_ACTIONS) < N_ROWS


@dataclass(frozen=True)
class DQNSettings:
    target_class: int
    hidden: int
    layers: int
    gamma: float
    target_sync: int
    beta: float  # inverse temperature of the sampling policy
    updates: int
    batch: int
    lr: float
    seed: int
    log_every: int
    checkpoint_every: int


def place_value(action: np.ndarray | torch.Tensor, step: int):
    """Eq. 1 value of choosing row or group `action + 1` at `step`."""
    return (2 * (action + 1) - 1) / SCALE[step] - 1


def legal_actions(states: np.ndarray, step: int) -> np.ndarray:
    """n x 8 mask of the actions open at `step` in each state."""
    if step % 2 == 0:
        return np.broadcast_to(ROW_LEGAL, (len(states), N_ACTIONS))
    rows = np.rint(((states[:, step - 1] + 1) * N_ROWS + 1) / 2).astype(int)
    return GROUP_LEGAL[rows]


class QNetwork(nn.Module):
    def __init__(self, s: DQNSettings):
        super().__init__()
        self.target_class, self.beta = s.target_class, s.beta
        self.net = mlp(STEPS, s.hidden, s.layers, N_ACTIONS)

    def forward(self, states: torch.Tensor) -> torch.Tensor:
        return self.net(states)

    def distinct_state_values(self, states: np.ndarray, step: int) -> torch.Tensor:
        """Q of each state before `step`, computed once per distinct state.

        Only the first `step` places are set, so the states take at most 6, 39, 234, ...
        values until the last steps: 25 million episodes cost a quarter of the network
        passes they would state by state.
        """
        distinct, inverse = np.unique(states[:, :step], axis=0, return_inverse=True)
        padded = np.zeros((len(distinct), STEPS))
        padded[:, :step] = distinct
        return self(torch.as_tensor(padded, dtype=torch.float32))[torch.as_tensor(inverse.reshape(-1))]

    def check_target(self, target: int) -> None:
        if target != self.target_class:
            raise ValueError(f"this agent was trained for class {self.target_class}, not class {target}")

    def sample(self, n: int, target: int, generator: torch.Generator) -> np.ndarray:
        """n episodes with actions drawn from softmax(beta * Q) over the legal actions; element indices."""
        self.check_target(target)
        states = np.zeros((n, STEPS))
        for step in range(STEPS):
            q = self.distinct_state_values(states, step)
            q = q.masked_fill(~torch.as_tensor(legal_actions(states, step).copy()), -torch.inf)
            actions = torch.multinomial(torch.softmax(self.beta * q, 1), 1, generator=generator).squeeze(1).numpy()
            states[:, step] = place_value(actions, step)
        return decode(states)

    @torch.no_grad()
    def episode_distribution(self, chunk: int = 65_536) -> tuple[np.ndarray, np.ndarray]:
        """Every episode the policy can take, as element indices (39^4 x 4, repeats included), and its probability.

        The policy of a state depends on nothing else, so an episode's probability is
        the product of its 8 softmax(beta * Q) choices, and the episode tree, 426,160
        inner states wide, costs a couple of network passes over them (in chunks).
        """
        states, log_p = np.zeros((1, STEPS)), np.zeros(1)
        for step in range(STEPS):
            q = torch.cat([self(torch.as_tensor(states[i : i + chunk], dtype=torch.float32)) for i in range(0, len(states), chunk)])
            legal = legal_actions(states, step)
            log_policy = torch.log_softmax(self.beta * q.double().masked_fill(~torch.as_tensor(legal.copy()), -torch.inf), 1).numpy()
            parent, action = np.nonzero(legal)
            states = states[parent]
            states[:, step] = place_value(action, step)
            log_p = log_p[parent] + log_policy[parent, action]
        return decode(states), np.exp(log_p)

    def sampler(self, target: int):
        """A function (n, generator) -> n episodes, drawn as `sample` draws them but from `episode_distribution`.

        One draw per episode instead of eight policy steps over the batch: the agent
        samples as fast as the one-shot generators, and 25 million episodes take seconds.
        """
        self.check_target(target)
        episodes, probability = self.episode_distribution()
        cumulative = np.cumsum(probability)

        def draw(n: int, generator: torch.Generator) -> np.ndarray:
            u = torch.rand(n, generator=generator, dtype=torch.float64).numpy() * cumulative[-1]
            return episodes[np.minimum(np.searchsorted(cumulative, u, side="right"), len(episodes) - 1)]

        return draw


def offline_transitions(indices: np.ndarray, classes: np.ndarray, target: int) -> dict[str, np.ndarray]:
    """The 8 transitions of the episode that spells each composition, step-major: row e*8 + t."""
    n = len(indices)
    x = encode(indices)
    actions = (ROW_GROUP[indices].reshape(n, STEPS) - 1).astype(np.int64)
    before = np.arange(STEPS)
    states = np.stack([x * (before < t) for t in range(STEPS)], axis=1)  # n x 8 steps x 8
    next_states = np.stack([x * (before <= t) for t in range(STEPS)], axis=1)
    next_legal = np.stack([legal_actions(next_states[:, t], t + 1) if t + 1 < STEPS else np.ones((n, N_ACTIONS), bool) for t in range(STEPS)], axis=1)
    reward = np.zeros((n, STEPS))
    reward[:, -1] = np.where(classes == target, 1.0, -1.0)
    final = np.zeros((n, STEPS), dtype=bool)
    final[:, -1] = True
    return {
        "states": states.reshape(-1, STEPS),
        "actions": actions.reshape(-1),
        "rewards": reward.reshape(-1),
        "next_states": next_states.reshape(-1, STEPS),
        "next_legal": next_legal.reshape(-1, N_ACTIONS),
        "final": final.reshape(-1),
    }


def train_dqn(s: DQNSettings, indices: np.ndarray, classes: np.ndarray, output: str | Path, stop_after: int | None = None) -> None:
    """Train the agent for `s.target_class` on the training episodes and write its policy network."""
    dev = pick_device()
    rng = random_stream(s.seed, dev)
    transitions = offline_transitions(indices, classes, s.target_class)
    data = {k: torch.as_tensor(v, dtype=torch.float32 if v.dtype == np.float64 else None, device=dev) for k, v in transitions.items()}
    # every step of an episode is equally likely; episodes by inverse class frequency
    weights = inverse_frequency_weights(classes).repeat_interleave(STEPS).to(dev)
    torch.manual_seed(s.seed)
    policy = QNetwork(s).to(dev)
    target = QNetwork(s).to(dev)
    target.load_state_dict(policy.state_dict())
    optimiser = torch.optim.Adam(policy.parameters(), lr=s.lr)

    def step(update: int) -> dict[str, torch.Tensor]:
        if update % s.target_sync == 0:
            target.load_state_dict(policy.state_dict())
        rows = torch.multinomial(weights, s.batch, replacement=True, generator=rng)
        states, actions, rewards = data["states"][rows], data["actions"][rows], data["rewards"][rows]
        next_states, final = data["next_states"][rows], data["final"][rows]
        with torch.no_grad():
            # double DQN: the policy network picks the next action, the target network values it
            best = policy(next_states).masked_fill(~data["next_legal"][rows], -torch.inf).argmax(1, keepdim=True)
            next_value = target(next_states).gather(1, best).squeeze(1)
            wanted = rewards + s.gamma * next_value * (~final)
        predicted = policy(states).gather(1, actions[:, None]).squeeze(1)
        loss = (predicted - wanted).pow(2).mean()
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        optimiser.step()
        return {"loss": loss.detach(), "mean target": wanted.mean()}

    stateful = {"policy": policy, "target": target, "optimiser": optimiser, "rng": rng}
    run_updates("dqn", s, stateful, step, policy, output, stop_after)
