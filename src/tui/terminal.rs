//! The terminal while `berth top` holds it: raw mode and the alternate screen, given back on
//! every way out — a normal end (the guard's drop), an error, and a panic on any thread (a
//! hook that restores it before the panic's message is printed, then ends the process, so
//! that nothing draws over the restored screen).

use ratatui::Terminal;
use ratatui::backend::CrosstermBackend;
use std::io::{BufWriter, Stdout, Write};

pub type Screen = Terminal<CrosstermBackend<BufWriter<Stdout>>>;

/// Holds the terminal; dropping it gives the terminal back.
pub struct Session {
    pub screen: Screen,
}

/// Takes the terminal: raw mode, the alternate screen, no cursor.
pub fn enter() -> std::io::Result<Session> {
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        restore();
        previous(info);
        std::process::exit(101);
    }));
    crossterm::terminal::enable_raw_mode()?;
    let mut out = std::io::stdout();
    if let Err(e) = crossterm::execute!(
        out,
        crossterm::terminal::EnterAlternateScreen,
        crossterm::cursor::Hide
    ) {
        restore();
        return Err(e);
    }
    // One write per frame: the cells that changed, sent together.
    let backend = CrosstermBackend::new(BufWriter::with_capacity(1 << 16, std::io::stdout()));
    match Terminal::new(backend) {
        Ok(screen) => Ok(Session { screen }),
        Err(e) => {
            restore();
            Err(e)
        }
    }
}

/// Leaves the alternate screen, shows the cursor, ends raw mode. Safe to call twice.
pub fn restore() {
    let mut out = std::io::stdout();
    let _ = crossterm::execute!(
        out,
        crossterm::terminal::LeaveAlternateScreen,
        crossterm::cursor::Show
    );
    let _ = out.flush();
    let _ = crossterm::terminal::disable_raw_mode();
}

impl Drop for Session {
    fn drop(&mut self) {
        let _ = self.screen.backend_mut().flush();
        restore();
    }
}
