"""Development and benchmark tools: demo users (`flask seed-demo`) and bulk load data (`flask seed-load`).

Never used by the job or the API; the commands that call them refuse to run
outside a development environment.

May import: the models, the domain, the services and the shared helpers at the
package's root. Only the CLI imports this package.
"""
