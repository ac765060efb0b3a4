//! ReDo (Sokar et al., ICML 2023) against dying ReLUs, on the spirals of
//! `train_spirals`.
//!
//! Three 2 → 64 → 3 networks start from the same weights and see the same
//! mini-batches of 30 points, trained with softmax cross-entropy and plain
//! SGD at `train_spirals`'s learning rate of 4, high enough that single
//! steps push ReLU units below zero on every point, where they stay: plain
//! ReLU, Leaky ReLU (slope 0.01), and ReLU with `Redo::recycle` every 100
//! steps (τ = 0, scoring the whole training set): each unit whose output is
//! 0 on every point gets new He-normal incoming weights and zero outgoing
//! weights, so the network's outputs do not change, and can learn again.
//!
//! Every 10 epochs a line shows each network's training accuracy and the
//! fraction of hidden units that are dead (pre-activation not above 0 on any
//! of the 300 points), taken before the recycling due at that step, so
//! ReDo's figure is the worst of its cycle. The numbers come from
//! `examples/common/redo.rs`, which the figures can reuse. At this learning
//! rate the accuracy swings by several points between checkpoints, so the
//! summary also gives its mean over the last five.
//!
//! With this seed ReLU loses half its units in the first 10 epochs and ends
//! with 75% dead at 75% accuracy (74% over the last five checkpoints);
//! Leaky ReLU ends with 45% dead at 89% (88%). ReDo recycles 87 units over
//! the run: the first recycling comes after epoch 10, when its network is
//! ReLU's (52% dead), and from epoch 40 on at most 8% of its units are dead
//! at a checkpoint, 0% at the end, at 80% accuracy (91% over the last
//! five). Over seeds 1 to 8, ReLU ended with 75–97% of its units dead and
//! 51–78% mean accuracy over the last five checkpoints, Leaky ReLU with
//! 30–58% and 84–89%, ReLU with ReDo with 0–14% and 86–94%.
//!
//! ```text
//! cargo run --release --example redo
//! ```

#[path = "common/redo.rs"]
mod redo;

use std::error::Error;

use redo::{train, Setup, CLASSES, HIDDEN};

fn main() -> Result<(), Box<dyn Error>> {
    let setup = Setup::EXAMPLE;
    println!(
        "300 points on {CLASSES} spirals; 2 → {HIDDEN} → {CLASSES} MLPs from the same init; \
         SGD on batches of {}, learning rate {}; ReDo (τ = {}) every {} steps",
        setup.batch, setup.learning_rate, setup.tau, setup.redo_every
    );
    println!("dead: hidden units whose pre-activation is not above 0 on any point\n");
    let series = train(&setup)?;

    let names: Vec<_> = series.iter().map(|s| format!("{:<14}", s.name)).collect();
    println!("       {}", names.join("  "));
    println!("epoch{}", "    acc   dead   ".repeat(series.len()));
    for (i, epoch) in series[0].epochs.iter().enumerate() {
        let cells: Vec<_> = (series.iter())
            .map(|s| {
                format!(
                    "{:>5.1}% {:>5.1}%",
                    100.0 * s.accuracy[i],
                    100.0 * s.dead[i]
                )
            })
            .collect();
        println!("{epoch:>5}  {}", cells.join("    "));
    }

    println!(
        "\n| network | final accuracy | mean accuracy, last 5 | dead, final | dead, peak | units recycled |"
    );
    println!("| --- | --- | --- | --- | --- | --- |");
    for s in &series {
        println!(
            "| {} | {:.1}% | {:.1}% | {:.1}% | {:.1}% | {} |",
            s.name,
            100.0 * s.final_accuracy(),
            100.0 * s.mean_accuracy(5),
            100.0 * s.final_dead(),
            100.0 * s.peak_dead(),
            s.recycled
        );
    }
    Ok(())
}
