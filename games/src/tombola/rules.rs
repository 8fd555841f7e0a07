//! The pure rules of tombola, shared by the lock-step and the live game:
//! boards, the draw bag, the set of drawn numbers and claim verification.
//!
//! Nothing here knows about clocks, sockets or a global RNG: randomness
//! comes in as a `&mut impl Rng` owned by the caller, so a seed decides
//! every board and every draw order.

use std::fmt;

use rand::seq::SliceRandom;
use rand::Rng;

/// The highest number in the bag; numbers run 1..=NUMBER_MAX.
pub const NUMBER_MAX: u8 = 90;
/// How many numbers a board holds.
pub const BOARD_NUMBERS: usize = 15;

/// Why a list of numbers is not a board.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BoardError {
    WrongCount(usize),
    OutOfRange(u8),
    Duplicate(u8),
}

impl fmt::Display for BoardError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BoardError::WrongCount(count) => {
                write!(f, "need {BOARD_NUMBERS} numbers, got {count}")
            }
            BoardError::OutOfRange(number) => {
                write!(f, "{number} is not in 1..={NUMBER_MAX}")
            }
            BoardError::Duplicate(number) => write!(f, "{number} appears twice"),
        }
    }
}

impl std::error::Error for BoardError {}

/// A set of numbers in 1..=90 as a bit set: cheap to copy and compare.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct NumberSet(u128);

impl NumberSet {
    pub fn insert(&mut self, number: u8) -> bool {
        debug_assert!((1..=NUMBER_MAX).contains(&number));
        let bit = 1u128 << number;
        let fresh = self.0 & bit == 0;
        self.0 |= bit;
        fresh
    }

    pub fn contains(&self, number: u8) -> bool {
        number <= 127 && self.0 & (1u128 << number) != 0
    }

    pub fn len(&self) -> usize {
        self.0.count_ones() as usize
    }

    pub fn is_empty(&self) -> bool {
        self.0 == 0
    }

    pub fn is_superset_of(&self, other: &NumberSet) -> bool {
        self.0 & other.0 == other.0
    }
}

impl FromIterator<u8> for NumberSet {
    fn from_iter<I: IntoIterator<Item = u8>>(numbers: I) -> Self {
        let mut set = NumberSet::default();
        for number in numbers {
            set.insert(number);
        }
        set
    }
}

/// A player's board: 15 distinct numbers in 1..=90, kept sorted.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Board {
    numbers: [u8; BOARD_NUMBERS],
    set: NumberSet,
}

impl Board {
    /// Validates a list of numbers as a board; order does not matter.
    pub fn new(numbers: &[u8]) -> Result<Board, BoardError> {
        if numbers.len() != BOARD_NUMBERS {
            return Err(BoardError::WrongCount(numbers.len()));
        }
        let mut set = NumberSet::default();
        for &number in numbers {
            if !(1..=NUMBER_MAX).contains(&number) {
                return Err(BoardError::OutOfRange(number));
            }
            if !set.insert(number) {
                return Err(BoardError::Duplicate(number));
            }
        }
        let mut sorted = [0u8; BOARD_NUMBERS];
        sorted.copy_from_slice(numbers);
        sorted.sort_unstable();
        Ok(Board {
            numbers: sorted,
            set,
        })
    }

    /// A uniformly random board drawn from `rng`.
    pub fn random(rng: &mut impl Rng) -> Board {
        let mut all: Vec<u8> = (1..=NUMBER_MAX).collect();
        let (chosen, _) = all.partial_shuffle(rng, BOARD_NUMBERS);
        Board::new(chosen).expect("15 distinct numbers from 1..=90 form a board")
    }

    /// The numbers, ascending.
    pub fn numbers(&self) -> &[u8; BOARD_NUMBERS] {
        &self.numbers
    }

    pub fn contains(&self, number: u8) -> bool {
        self.set.contains(number)
    }

    /// A claim on this board is valid iff every number has been drawn.
    pub fn is_covered_by(&self, drawn: &NumberSet) -> bool {
        drawn.is_superset_of(&self.set)
    }

    /// The 1-based draw at which this board completes in `draws`, if it does.
    pub fn completion_draw(&self, draws: &[u8]) -> Option<usize> {
        let mut missing = BOARD_NUMBERS;
        for (index, &number) in draws.iter().enumerate() {
            if self.set.contains(number) {
                missing -= 1;
                if missing == 0 {
                    return Some(index + 1);
                }
            }
        }
        None
    }
}

impl fmt::Display for Board {
    /// Space-separated, ascending: the wire form after `BOARD`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (index, number) in self.numbers.iter().enumerate() {
            if index > 0 {
                f.write_str(" ")?;
            }
            write!(f, "{number}")?;
        }
        Ok(())
    }
}

/// The bag of numbers for one game: a permutation of 1..=90, drawn in order.
#[derive(Debug, Clone)]
pub struct DrawBag {
    order: Vec<u8>,
    next: usize,
}

impl DrawBag {
    /// A uniformly shuffled bag.
    pub fn shuffled(rng: &mut impl Rng) -> DrawBag {
        DrawBag::with_prefix(&[], rng)
    }

    /// A bag that draws `prefix` first (to force a race in a scenario), then
    /// the remaining numbers shuffled. Invalid or repeated prefix entries are
    /// skipped, so the bag is always a permutation of 1..=90.
    pub fn with_prefix(prefix: &[u8], rng: &mut impl Rng) -> DrawBag {
        let mut seen = NumberSet::default();
        let mut order: Vec<u8> = prefix
            .iter()
            .copied()
            .filter(|&number| (1..=NUMBER_MAX).contains(&number) && seen.insert(number))
            .collect();
        let fixed = order.len();
        order.extend((1..=NUMBER_MAX).filter(|&number| !seen.contains(number)));
        order[fixed..].shuffle(rng);
        DrawBag { order, next: 0 }
    }

    /// The next number, or `None` after all 90 have been drawn.
    pub fn draw(&mut self) -> Option<u8> {
        let number = self.order.get(self.next).copied()?;
        self.next += 1;
        Some(number)
    }

    /// Numbers drawn so far, in order.
    pub fn drawn(&self) -> &[u8] {
        &self.order[..self.next]
    }

    /// The whole order, drawn or not.
    pub fn order(&self) -> &[u8] {
        &self.order
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    #[test]
    fn boards_reject_wrong_count_range_and_duplicates() {
        assert_eq!(Board::new(&[1, 2, 3]), Err(BoardError::WrongCount(3)));
        let mut numbers: Vec<u8> = (1..=15).collect();
        numbers[3] = 91;
        assert_eq!(Board::new(&numbers), Err(BoardError::OutOfRange(91)));
        numbers[3] = 0;
        assert_eq!(Board::new(&numbers), Err(BoardError::OutOfRange(0)));
        numbers[3] = 1;
        assert_eq!(Board::new(&numbers), Err(BoardError::Duplicate(1)));
    }

    proptest! {
        #[test]
        fn random_boards_are_valid_boards(seed: u64) {
            let board = Board::random(&mut ChaCha8Rng::seed_from_u64(seed));
            prop_assert_eq!(Board::new(board.numbers()), Ok(board.clone()));
        }

        #[test]
        fn any_fifteen_distinct_numbers_in_range_form_a_board(
            numbers in proptest::sample::subsequence((1..=NUMBER_MAX).collect::<Vec<_>>(), BOARD_NUMBERS)
                .prop_shuffle()
        ) {
            let board = Board::new(&numbers).unwrap();
            prop_assert!(numbers.iter().all(|&n| board.contains(n)));
        }

        #[test]
        fn a_bag_is_a_permutation_of_one_to_ninety(seed: u64, prefix in proptest::collection::vec(0u8..=120, 0..30)) {
            let mut bag = DrawBag::with_prefix(&prefix, &mut ChaCha8Rng::seed_from_u64(seed));
            let mut drawn = Vec::new();
            while let Some(number) = bag.draw() {
                drawn.push(number);
            }
            let mut sorted = drawn.clone();
            sorted.sort_unstable();
            prop_assert_eq!(sorted, (1..=NUMBER_MAX).collect::<Vec<_>>());
            // The valid, first occurrences of the prefix come first, in order.
            let mut seen = NumberSet::default();
            let wanted: Vec<u8> = prefix.iter().copied()
                .filter(|&n| (1..=NUMBER_MAX).contains(&n) && seen.insert(n)).collect();
            prop_assert_eq!(&drawn[..wanted.len()], &wanted[..]);
        }

        #[test]
        fn a_claim_is_valid_iff_every_board_number_was_drawn(seed: u64, drawn_count in 0usize..=90) {
            let mut rng = ChaCha8Rng::seed_from_u64(seed);
            let board = Board::random(&mut rng);
            let mut bag = DrawBag::shuffled(&mut rng);
            for _ in 0..drawn_count {
                bag.draw();
            }
            let drawn: NumberSet = bag.drawn().iter().copied().collect();
            let expected = board.numbers().iter().all(|n| bag.drawn().contains(n));
            prop_assert_eq!(board.is_covered_by(&drawn), expected);
            prop_assert_eq!(board.completion_draw(bag.drawn()).is_some(), expected);
        }

        #[test]
        fn every_board_completes_by_the_ninetieth_draw(seed: u64) {
            let mut rng = ChaCha8Rng::seed_from_u64(seed);
            let board = Board::random(&mut rng);
            let bag = DrawBag::shuffled(&mut rng);
            let at = board.completion_draw(bag.order()).unwrap();
            prop_assert!((BOARD_NUMBERS..=NUMBER_MAX as usize).contains(&at));
            // It completes exactly when its last number comes out.
            let last = board.numbers().iter().map(|n| bag.order().iter().position(|d| d == n).unwrap()).max().unwrap();
            prop_assert_eq!(at, last + 1);
        }
    }
}
