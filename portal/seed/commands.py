"""`flask seed demo` and `flask seed scale`."""

import click
from flask import current_app
from flask.cli import AppGroup

seed_cli = AppGroup("seed", help="Load demo or full-scale data.")


@seed_cli.command("demo")
@click.option("--seed", default=2026, show_default=True, help="Random seed, for repeatable data.")
def seed_demo(seed: int) -> None:
    """Load the demo: 3 clinics, 20 doctors, 60 patients, visits and records."""
    from portal.seed.demo import DEMO_SIGN_INS, load_demo

    created = load_demo(seed=seed)
    click.echo("Demo data loaded." if created else "Demo data is already there.")
    password = current_app.config["DEMO_PASSWORD"]
    for email, role in DEMO_SIGN_INS:
        click.echo(f"  {role:<13} {email:<24} password: {password}")


@seed_cli.command("scale")
@click.option("--fraction", default=1.0, show_default=True, type=click.FloatRange(0.0001, 1.0))
@click.option("--yes", is_flag=True, help="Replace existing data without asking.")
def seed_scale(fraction: float, yes: bool) -> None:
    """Fill PostgreSQL at the reviewed design's full size (or a fraction of it)."""
    from portal.seed.scale import load_scale

    if not yes:
        click.confirm("This empties every table first. Continue?", abort=True)
    load_scale(fraction=fraction, echo=click.echo)
