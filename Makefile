# pktools: build, test, benchmark, demo, install.
PREFIX ?= /usr/local
DESTDIR ?=
BINDIR = $(DESTDIR)$(PREFIX)/bin
MANDIR = $(DESTDIR)$(PREFIX)/share/man
CARGO ?= cargo
PROGRAMS = $(basename $(notdir $(wildcard src/bin/*.rs)))
RELEASE = target/release

.PHONY: all test lint bench demo photos install uninstall clean

all:
	$(CARGO) build --release --locked

test: lint
	$(CARGO) test --locked
	# Issue 9's resource limits at full size: 1 GiB through every program, optimised.
	PKTOOLS_LIMITS_BYTES=1G $(CARGO) test --release --locked --test it limits::

lint:
	$(CARGO) fmt --check
	$(CARGO) clippy --locked --all-targets -- -D warnings
	mandoc -Tlint -W warning man/*.[15]

# Real photographs (public domain, CC0) for the concealment tests and benchmark.
photos:
	bash tests/photos/fetch.sh

bench: all photos
	bash bench/run.sh

demo: all
	bash demo/run.sh

install: all
	install -d $(BINDIR) $(MANDIR)/man1 $(MANDIR)/man5
	for p in $(PROGRAMS); do install -m 755 $(RELEASE)/$$p $(BINDIR)/$$p; done
	for m in man/*.1; do install -m 644 $$m $(MANDIR)/man1/; done
	for m in man/*.5; do install -m 644 $$m $(MANDIR)/man5/; done

uninstall:
	for p in $(PROGRAMS); do rm -f $(BINDIR)/$$p; done
	for m in man/*.1; do rm -f $(MANDIR)/man1/$$(basename $$m); done
	for m in man/*.5; do rm -f $(MANDIR)/man5/$$(basename $$m); done

clean:
	$(CARGO) clean
	rm -rf demo-out
