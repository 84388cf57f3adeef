//! A bidirectional stream: chat with the greeter.
//!
//! ```text
//! cargo run --example chat -- serve --addr 127.0.0.1:50053
//! cargo run --example chat -- talk --addr 127.0.0.1:50053 --name ann
//! ```
//! `talk` sends each line of standard input and prints the answers as they
//! come, on the same stream; end of input ends the stream.

#[path = "grpc/greeter.rs"]
mod greeter;

use std::io::BufRead;
use std::net::SocketAddr;

use clap::{Parser, Subcommand};
use ringrpc::engine::grpc::{Channel, Status};
use ringrpc_example_idl::helloworld::{ChatMessage, GreeterClient};

#[derive(Parser)]
struct Args {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Serves the greeter (its `Chat` method).
    Serve {
        #[arg(long, default_value = "127.0.0.1:50053")]
        addr: SocketAddr,
        #[arg(long)]
        cores: Option<usize>,
    },
    /// Sends standard input's lines, prints the answers.
    Talk {
        #[arg(long, default_value = "127.0.0.1:50053")]
        addr: SocketAddr,
        #[arg(long, default_value = "me")]
        name: String,
    },
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    match Args::parse().cmd {
        Cmd::Serve { addr, cores } => greeter::serve(addr, cores)?,
        Cmd::Talk { addr, name } => {
            let client = GreeterClient::new(Channel::builder().target(addr).build()?);
            // Lines are read on a thread of their own, so the core keeps
            // reading answers while stdin blocks.
            let (tx_lines, rx_lines) = std::sync::mpsc::channel::<String>();
            std::thread::spawn(move || {
                for line in std::io::stdin().lock().lines().map_while(Result::ok) {
                    if tx_lines.send(line).is_err() {
                        break;
                    }
                }
            });
            ringrpc::engine::runtime::block_on(async move {
                let (mut tx, mut rx) = client.chat(()).await?;
                let printer = monoio::spawn(async move {
                    while let Some(m) = rx.message().await? {
                        println!("{}: {}", m.from, m.text);
                    }
                    Ok::<_, Status>(())
                });
                loop {
                    match rx_lines.try_recv() {
                        Ok(text) => {
                            let from = name.clone();
                            tx.send(ChatMessage { from, text }).await?;
                        }
                        Err(std::sync::mpsc::TryRecvError::Empty) => {
                            monoio::time::sleep(std::time::Duration::from_millis(10)).await;
                        }
                        Err(std::sync::mpsc::TryRecvError::Disconnected) => break,
                    }
                }
                tx.finish();
                printer.await
            })?;
        }
    }
    Ok(())
}
