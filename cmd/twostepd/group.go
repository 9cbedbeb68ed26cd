package main

// group runs actors that start and stop together, in the shape of
// oklog/run's Group that dex runs its servers with (written here, a few
// lines, rather than a dependency). An actor is an execute, which runs
// until its work is done or it is interrupted, and an interrupt, which
// makes execute return.
//
// run starts every execute on its own goroutine. When the first returns,
// run calls every interrupt, one after the other in the order the actors
// were added, on its own goroutine: an interrupt may block (a server that
// drains its requests), and the next waits for it. Then run waits for
// every execute to return, so no goroutine outlives it, and returns the
// first one's error.
type group struct {
	actors []actor
}

type actor struct {
	execute   func() error
	interrupt func(error)
}

// add adds an actor. An execute that returns ends the group, so one whose
// work can finish early (a connection made) waits for its interrupt
// before it returns.
func (g *group) add(execute func() error, interrupt func(error)) {
	g.actors = append(g.actors, actor{execute, interrupt})
}

// run runs the actors until the first returns; see group.
func (g *group) run() error {
	if len(g.actors) == 0 {
		return nil
	}
	errs := make(chan error, len(g.actors))
	for _, a := range g.actors {
		go func() { errs <- a.execute() }()
	}
	err := <-errs
	for _, a := range g.actors {
		a.interrupt(err)
	}
	for range len(g.actors) - 1 {
		<-errs
	}
	return err
}
