//! A round's coalition evaluator as a Shapley utility, so any estimator of `fairshare-shapley`
//! (exact, TMC, GTG, ...) values the round's updates on the evaluator's held-out text.

use fairshare_shapley::{Coalition, ShapleyError, Utility};

use crate::eval::CoalitionEvaluator;

impl CoalitionEvaluator {
    fn members(&self, c: &Coalition) -> Vec<bool> {
        (0..self.n()).map(|i| c.contains(i)).collect()
    }
}

impl Utility for CoalitionEvaluator {
    fn n_players(&self) -> usize {
        self.n()
    }

    fn value(&self, coalition: &Coalition) -> fairshare_shapley::Result<f64> {
        self.utility(&self.members(coalition))
            .map_err(|e| ShapleyError::Utility(e.to_string()))
    }

    fn values(&self, coalitions: &[Coalition]) -> fairshare_shapley::Result<Vec<f64>> {
        let members: Vec<Vec<bool>> = coalitions.iter().map(|c| self.members(c)).collect();
        self.utilities(&members)
            .map_err(|e| ShapleyError::Utility(e.to_string()))
    }
}
