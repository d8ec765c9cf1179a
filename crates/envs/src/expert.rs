//! OGBench's scripted maze expert: head for the centre of the neighbouring cell that is closest
//! to the goal by BFS (`get_oracle_subgoal`), then add Gaussian noise and clip.

use rand::Rng;
use rand_distr::StandardNormal;

use crate::maze::{Dynamics, Maze, ACCEL_DECAY, ACCEL_GAIN};

/// The BFS-waypoint expert for one goal. Construct it per goal: BFS runs once here.
#[derive(Clone, Debug)]
pub struct MazeExpert {
    goal_xy: [f32; 2],
    goal_cell: (isize, isize),
    dist: Vec<u32>,
}

impl MazeExpert {
    /// In the teleport maze the plan treats the teleport in-cells as walls: one of the three
    /// out-cells, (1,7), is walled in on all sides, so an expert that walks through an in-cell
    /// is stranded a third of the time. (OGBench's generator plans on the bare map; ours avoids
    /// the gamble, so our teleport datasets hold no teleport transitions.)
    pub fn new(maze: &Maze, goal_xy: [f32; 2]) -> Self {
        let goal_cell = maze.xy_to_ij(goal_xy);
        let blocked: &[(usize, usize)] = if maze.layout == crate::maze::Layout::Teleport { &crate::maze::TELEPORT_IN } else { &[] };
        let dist = maze.bfs_avoiding((goal_cell.0 as usize, goal_cell.1 as usize), blocked);
        Self { goal_xy, goal_cell, dist }
    }
    pub fn goal_xy(&self) -> [f32; 2] {
        self.goal_xy
    }

    /// The unit direction OGBench's point expert outputs. In the goal's own cell it heads for
    /// the goal itself rather than the cell centre: with OGBench's ±1 goal noise the centre can be
    /// farther than the 1.0 tolerance from the goal, and the reference expert would dither there.
    pub fn direction(&self, maze: &Maze, xy: [f32; 2]) -> [f32; 2] {
        let cell = maze.xy_to_ij(xy);
        let target = if cell == self.goal_cell {
            self.goal_xy
        } else {
            let sub = maze.subgoal_cell(&self.dist, cell);
            maze.ij_to_xy((sub.0 as usize, sub.1 as usize))
        };
        let (dx, dy) = (target[0] - xy[0], target[1] - xy[1]);
        let n = (dx * dx + dy * dy).sqrt();
        if n < 1e-6 {
            [0.0, 0.0]
        } else {
            [dx / n, dy / n]
        }
    }

    /// The noiseless action for `dynamics`: the direction itself for the point agent; for the
    /// accelerating agent, the action that reaches the desired velocity (full speed along the
    /// direction, slowing down near the goal) in one step where the bounds allow.
    pub fn clean_action(&self, maze: &Maze, dynamics: Dynamics, xy: [f32; 2], vel: [f32; 2]) -> [f32; 2] {
        let d = self.direction(maze, xy);
        match dynamics {
            Dynamics::Point => d,
            Dynamics::Accel => {
                let vmax = ACCEL_GAIN / (1.0 - ACCEL_DECAY);
                let (gx, gy) = (self.goal_xy[0] - xy[0], self.goal_xy[1] - xy[1]);
                // Brake within ~5 step-lengths of the goal so the agent stops inside the tolerance.
                let speed = vmax * ((gx * gx + gy * gy).sqrt() / (5.0 * vmax)).min(1.0);
                let want = [speed * d[0], speed * d[1]];
                [((want[0] - ACCEL_DECAY * vel[0]) / ACCEL_GAIN).clamp(-1.0, 1.0), ((want[1] - ACCEL_DECAY * vel[1]) / ACCEL_GAIN).clamp(-1.0, 1.0)]
            }
        }
    }

    /// The dataset action: clean action + N(0, noise²) per component, clipped to [-1, 1].
    pub fn noisy_action<R: Rng>(&self, maze: &Maze, dynamics: Dynamics, xy: [f32; 2], vel: [f32; 2], noise: f32, rng: &mut R) -> [f32; 2] {
        let a = self.clean_action(maze, dynamics, xy, vel);
        let n0: f32 = rng.sample(StandardNormal);
        let n1: f32 = rng.sample(StandardNormal);
        [(a[0] + noise * n0).clamp(-1.0, 1.0), (a[1] + noise * n1).clamp(-1.0, 1.0)]
    }
}
