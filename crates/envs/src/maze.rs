//! Maze geometry shared by every maze task: OGBench's maps (copied verbatim from
//! `ogbench/locomaze/maze.py`), JaxGCRL's three online mazes, cell↔position maps, BFS distances,
//! the disc-versus-wall contact that stands in for MuJoCo's, and the point agent's dynamics.

/// Side of one maze cell (OGBench's and JaxGCRL's `maze_unit` / `maze_size_scaling`).
pub const MAZE_UNIT: f32 = 4.0;
/// Radius of the point agent's collision sphere (OGBench `point.xml`).
pub const AGENT_RADIUS: f32 = 0.7;
/// OGBench's `PointEnv`: `qpos += 0.2·clip(a)`, the physics steps only resolve contacts.
pub const POINT_STEP: f32 = 0.2;
/// accelmaze: `v ← ACCEL_DECAY·v + ACCEL_GAIN·clip(a)`, `x ← x + v`. The terminal speed is
/// `ACCEL_GAIN / (1 − ACCEL_DECAY) = 0.1` per axis, half the point agent's, and a velocity
/// change takes ~5 steps to settle, so the agent must brake before corners. Episodes are 2000
/// steps, as humanoidmaze-medium's are. Wall contact removes the velocity into the wall.
pub const ACCEL_DECAY: f32 = 0.8;
pub const ACCEL_GAIN: f32 = 0.02;

/// How the agent moves: OGBench's point agent, or accelmaze's double integrator.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dynamics {
    Point,
    Accel,
}

/// Which repository's coordinate convention a map uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Convention {
    /// OGBench: cell (i, j) is centred at `(4j − 4, 4i − 4)`.
    Ogbench,
    /// JaxGCRL (Brax ant mazes): cell (i, j) is centred at `(4i, 4j)`.
    JaxGcrl,
}

/// The OGBench maze layouts, and JaxGCRL's U-maze (whose big and hardest mazes are OGBench's
/// medium and large maps cell for cell).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Layout {
    Arena,
    Medium,
    Large,
    Giant,
    Teleport,
    UMaze,
}

const ARENA: [&str; 8] = ["11111111", "10000001", "10000001", "10000001", "10000001", "10000001", "10000001", "11111111"];
const MEDIUM: [&str; 8] = ["11111111", "10011001", "10010001", "11000111", "10010001", "10100101", "10001001", "11111111"];
const LARGE: [&str; 9] = ["111111111111", "100001000001", "101101010101", "100000010001", "101111011101", "100101000001", "110101010111", "100100010001", "111111111111"];
const GIANT: [&str; 12] = [
    "1111111111111111",
    "1010000001100001",
    "1010110101001101",
    "1000100100010001",
    "1011101111110101",
    "1000100010000101",
    "1110101001010111",
    "1000100100010001",
    "1010101111110101",
    "1011100010001101",
    "1000001000100001",
    "1111111111111111",
];
const TELEPORT: [&str; 9] = ["111111111111", "100000101001", "110100010011", "110111000001", "100001010101", "101101010101", "101101010101", "100001000101", "111111111111"];
/// JaxGCRL `U_MAZE` (R at (1,1); every other free cell is a G cell).
const UMAZE: [&str; 5] = ["11111", "10001", "11101", "10001", "11111"];

/// `(init_ij, goal_ij)` cell pairs.
pub type TaskCells = &'static [((usize, usize), (usize, usize))];

/// OGBench's 5 evaluation tasks per maze, as `(init_ij, goal_ij)` (`maze.py set_tasks`).
pub fn ogbench_tasks(layout: Layout) -> TaskCells {
    match layout {
        Layout::Arena => &[((1, 1), (6, 6))],
        Layout::Medium => &[((1, 1), (6, 6)), ((6, 1), (1, 6)), ((5, 3), (4, 2)), ((6, 5), (6, 1)), ((2, 6), (1, 1))],
        Layout::Large => &[((1, 1), (7, 10)), ((5, 4), (7, 1)), ((7, 4), (1, 10)), ((3, 8), (5, 4)), ((1, 1), (5, 4))],
        Layout::Giant => &[((1, 1), (10, 14)), ((1, 14), (10, 1)), ((8, 14), (1, 1)), ((8, 3), (5, 12)), ((5, 9), (3, 8))],
        Layout::Teleport => &[((1, 10), (7, 1)), ((1, 1), (7, 10)), ((5, 6), (7, 10)), ((7, 1), (7, 10)), ((5, 6), (7, 1))],
        Layout::UMaze => &[],
    }
}

/// A grid cell `(i, j)`.
pub type Cell = (usize, usize);
/// An AntSoccer task: `(agent_init, ball_init, goal)` cells.
pub type SoccerTask = (Cell, Cell, Cell);

/// OGBench's 5 AntSoccer arena tasks (`maze.py set_tasks`, `maze_type == 'arena'` with a ball),
/// as `(agent_init_ij, ball_init_ij, goal_ij)`; OGBench's default is task 4.
pub const SOCCER_ARENA_TASKS: [SoccerTask; 5] = [((1, 6), (2, 3), (5, 2)), ((2, 2), (5, 5), (2, 2)), ((6, 1), (2, 3), (6, 6)), ((6, 6), (1, 1), (6, 1)), ((4, 6), (6, 2), (1, 6))];

/// OGBench's teleport maze: stepping within `1.5` of an in-cell centre moves the agent to the
/// centre of a uniformly chosen out-cell.
pub const TELEPORT_IN: [(usize, usize); 2] = [(4, 6), (5, 1)];
pub const TELEPORT_OUT: [(usize, usize); 3] = [(1, 7), (6, 1), (6, 10)];
pub const TELEPORT_RADIUS: f32 = 1.5;

/// A maze map with its convention and precomputed wall bitmap.
#[derive(Clone, Debug)]
pub struct Maze {
    pub layout: Layout,
    pub convention: Convention,
    rows: usize,
    cols: usize,
    walls: Vec<bool>,
}

impl Maze {
    pub fn new(layout: Layout, convention: Convention) -> Self {
        let src: &[&str] = match layout {
            Layout::Arena => &ARENA,
            Layout::Medium => &MEDIUM,
            Layout::Large => &LARGE,
            Layout::Giant => &GIANT,
            Layout::Teleport => &TELEPORT,
            Layout::UMaze => &UMAZE,
        };
        let rows = src.len();
        let cols = src[0].len();
        let walls = src.iter().flat_map(|r| r.bytes().map(|b| b == b'1')).collect();
        Self { layout, convention, rows, cols, walls }
    }
    pub fn rows(&self) -> usize {
        self.rows
    }
    pub fn cols(&self) -> usize {
        self.cols
    }
    /// Out-of-range cells count as walls.
    pub fn is_wall(&self, i: isize, j: isize) -> bool {
        i < 0 || j < 0 || i as usize >= self.rows || j as usize >= self.cols || self.walls[i as usize * self.cols + j as usize]
    }
    pub fn is_free(&self, ij: (usize, usize)) -> bool {
        !self.is_wall(ij.0 as isize, ij.1 as isize)
    }
    /// Centre of cell (i, j).
    pub fn ij_to_xy(&self, (i, j): (usize, usize)) -> [f32; 2] {
        match self.convention {
            Convention::Ogbench => [j as f32 * MAZE_UNIT - 4.0, i as f32 * MAZE_UNIT - 4.0],
            Convention::JaxGcrl => [i as f32 * MAZE_UNIT, j as f32 * MAZE_UNIT],
        }
    }
    /// The cell containing `xy` (OGBench's `xy_to_ij`, which truncates toward zero).
    pub fn xy_to_ij(&self, xy: [f32; 2]) -> (isize, isize) {
        let half = MAZE_UNIT / 2.0;
        let (a, b) = match self.convention {
            Convention::Ogbench => ((xy[1] + 4.0 + half) / MAZE_UNIT, (xy[0] + 4.0 + half) / MAZE_UNIT),
            Convention::JaxGcrl => ((xy[0] + half) / MAZE_UNIT, (xy[1] + half) / MAZE_UNIT),
        };
        (a.floor() as isize, b.floor() as isize)
    }
    /// Every free cell, row-major.
    pub fn free_cells(&self) -> Vec<(usize, usize)> {
        (0..self.rows).flat_map(|i| (0..self.cols).map(move |j| (i, j))).filter(|&ij| self.is_free(ij)).collect()
    }
    /// OGBench's `vertex_cells`: free cells that are not straight hallway cells (free on both
    /// sides along one axis and walled on both sides along the other).
    pub fn vertex_cells(&self) -> Vec<(usize, usize)> {
        self.free_cells()
            .into_iter()
            .filter(|&(i, j)| {
                let (i, j) = (i as isize, j as isize);
                let (u, d, l, r) = (self.is_wall(i - 1, j), self.is_wall(i + 1, j), self.is_wall(i, j - 1), self.is_wall(i, j + 1));
                let vertical_hall = !u && !d && l && r;
                let horizontal_hall = u && d && !l && !r;
                !(vertical_hall || horizontal_hall)
            })
            .collect()
    }
    /// BFS distances (in cells) from `goal` to every cell; walls and unreachable cells get `u32::MAX`.
    pub fn bfs(&self, goal: (usize, usize)) -> Vec<u32> {
        self.bfs_avoiding(goal, &[])
    }

    /// [`Maze::bfs`] with `blocked` cells treated as walls (the goal itself is never blocked).
    pub fn bfs_avoiding(&self, goal: (usize, usize), blocked: &[(usize, usize)]) -> Vec<u32> {
        let mut dist = vec![u32::MAX; self.rows * self.cols];
        if !self.is_free(goal) {
            return dist;
        }
        let mut queue = std::collections::VecDeque::new();
        dist[goal.0 * self.cols + goal.1] = 0;
        queue.push_back(goal);
        while let Some((i, j)) = queue.pop_front() {
            let d = dist[i * self.cols + j];
            for (di, dj) in [(-1isize, 0isize), (1, 0), (0, -1), (0, 1)] {
                let (ni, nj) = (i as isize + di, j as isize + dj);
                if !self.is_wall(ni, nj) && !blocked.contains(&(ni as usize, nj as usize)) {
                    let k = ni as usize * self.cols + nj as usize;
                    if dist[k] == u32::MAX {
                        dist[k] = d + 1;
                        queue.push_back((ni as usize, nj as usize));
                    }
                }
            }
        }
        dist
    }
    pub fn dist_at(&self, dist: &[u32], (i, j): (isize, isize)) -> u32 {
        if self.is_wall(i, j) {
            u32::MAX
        } else {
            dist[i as usize * self.cols + j as usize]
        }
    }
    /// OGBench's oracle subgoal: the 4-neighbour of the agent's cell with the lowest BFS distance
    /// to the goal (the agent's own cell if none is lower).
    pub fn subgoal_cell(&self, dist: &[u32], cell: (isize, isize)) -> (isize, isize) {
        let mut best = cell;
        let mut best_d = self.dist_at(dist, cell);
        for (di, dj) in [(-1isize, 0isize), (1, 0), (0, -1), (0, 1)] {
            let n = (cell.0 + di, cell.1 + dj);
            let d = self.dist_at(dist, n);
            if d < best_d {
                best = n;
                best_d = d;
            }
        }
        best
    }

    /// Moves a disc of radius [`AGENT_RADIUS`] from `p` by `d`, one axis at a time (x, then y),
    /// stopping each axis where the disc would first touch a wall square: the native stand-in
    /// for MuJoCo's contacts. Sliding along walls falls out of the axis split, the disc never
    /// penetrates, and no axis moves farther than commanded (a push-out scheme can shove the disc
    /// sideways round a corner, faster than the speed bound). Returns which axes were stopped.
    /// Steps are shorter than a cell minus the radius, so only the 3×3 cells around the disc can
    /// be hit.
    #[inline]
    pub fn sweep(&self, p: &mut [f32; 2], d: [f32; 2]) -> [bool; 2] {
        self.sweep_disc(p, d, AGENT_RADIUS)
    }

    /// [`Maze::sweep`] for a disc of radius `r` (the soccer ball is smaller than the agent).
    #[inline]
    pub fn sweep_disc(&self, p: &mut [f32; 2], d: [f32; 2], r: f32) -> [bool; 2] {
        [self.sweep_axis(p, 0, d[0], r), self.sweep_axis(p, 1, d[1], r)]
    }

    #[inline]
    fn sweep_axis(&self, p: &mut [f32; 2], axis: usize, delta: f32, r: f32) -> bool {
        if delta == 0.0 {
            return false;
        }
        let half = MAZE_UNIT / 2.0;
        let other = 1 - axis;
        let target = p[axis] + delta;
        let mut limit = target;
        let (ci, cj) = self.xy_to_ij(*p);
        for di in -1..=1 {
            for dj in -1..=1 {
                let (i, j) = (ci + di, cj + dj);
                if i < 0 || j < 0 || !self.is_wall(i, j) {
                    continue;
                }
                let c = self.ij_to_xy((i as usize, j as usize));
                // Disc centres at this `other` coordinate that overlap the square form the
                // interval c ± (half + w) along `axis`.
                let off = (p[other] - c[other]).abs() - half;
                let w = if off <= 0.0 {
                    r
                } else if off < r {
                    (r * r - off * off).sqrt()
                } else {
                    continue;
                };
                let (lo, hi) = (c[axis] - half - w, c[axis] + half + w);
                if delta > 0.0 && p[axis] <= lo + 1e-4 && target > lo {
                    limit = limit.min(lo);
                } else if delta < 0.0 && p[axis] >= hi - 1e-4 && target < hi {
                    limit = limit.max(hi);
                }
            }
        }
        let hit = limit != target;
        // Never move backwards (a disc placed touching a wall stays where it is).
        p[axis] = if delta > 0.0 { limit.max(p[axis]) } else { limit.min(p[axis]) };
        hit
    }

    /// The smallest distance from `p` to any wall square (for tests and pictures).
    pub fn clearance(&self, p: [f32; 2]) -> f32 {
        let half = MAZE_UNIT / 2.0;
        let mut best = f32::INFINITY;
        for i in 0..self.rows {
            for j in 0..self.cols {
                if self.walls[i * self.cols + j] {
                    let c = self.ij_to_xy((i, j));
                    let dx = (p[0] - c[0]).abs() - half;
                    let dy = (p[1] - c[1]).abs() - half;
                    let outside = (dx.max(0.0).powi(2) + dy.max(0.0).powi(2)).sqrt();
                    let inside = dx.max(dy).min(0.0);
                    best = best.min(outside + inside);
                }
            }
        }
        best
    }

    /// Bounding box of the whole map in world coordinates: `([xmin, ymin], [xmax, ymax])`.
    pub fn bounds(&self) -> ([f32; 2], [f32; 2]) {
        let a = self.ij_to_xy((0, 0));
        let b = self.ij_to_xy((self.rows - 1, self.cols - 1));
        let h = MAZE_UNIT / 2.0;
        ([a[0].min(b[0]) - h, a[1].min(b[1]) - h], [a[0].max(b[0]) + h, a[1].max(b[1]) + h])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cell_maps_invert() {
        for conv in [Convention::Ogbench, Convention::JaxGcrl] {
            let m = Maze::new(Layout::Large, conv);
            for ij in m.free_cells() {
                let xy = m.ij_to_xy(ij);
                assert_eq!(m.xy_to_ij(xy), (ij.0 as isize, ij.1 as isize));
                assert_eq!(m.xy_to_ij([xy[0] + 1.9, xy[1] - 1.9]), (ij.0 as isize, ij.1 as isize));
            }
        }
    }

    #[test]
    fn vertex_cells_exclude_hallways() {
        let m = Maze::new(Layout::Medium, Convention::Ogbench);
        // (2,5): free above (1,5) and below... check a known straight hallway in the large maze.
        let l = Maze::new(Layout::Large, Convention::Ogbench);
        let v = l.vertex_cells();
        // (2,1) in the large maze has free (1,1),(3,1) and walls (2,0),(2,2): a vertical hallway.
        assert!(!v.contains(&(2, 1)));
        assert!(v.contains(&(1, 1)));
        assert!(m.vertex_cells().len() < m.free_cells().len());
    }

    #[test]
    fn bfs_is_shortest_path() {
        let m = Maze::new(Layout::Medium, Convention::Ogbench);
        let d = m.bfs((6, 6));
        assert_eq!(d[6 * m.cols() + 6], 0);
        assert_eq!(d[6 * m.cols() + 5], 1);
        // Every free cell is reachable in OGBench's mazes.
        for ij in m.free_cells() {
            assert!(d[ij.0 * m.cols() + ij.1] < u32::MAX);
        }
    }
}
