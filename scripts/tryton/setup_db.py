"""Sets up a Tryton database (sale, sale_discount) for the connector's tests: the sale module, a
company in EUR with a chart of accounts, this year's fiscal year with its
invoice sequences, a payment term, a 20 % VAT tax and an accounting product
category, using the modules' own scenario helpers (as Tryton's tests do).

Run by scripts/tryton.sh after `trytond-admin --all` on the same database:
    python setup_db.py <trytond.conf> <database>
"""

import sys
from decimal import Decimal

from proteus import Model, config as pconfig


def main(conf, database):
    cfg = pconfig.set_trytond(database=database, config_file=conf)

    Module = Model.get('ir.module')
    modules = Module.find([('name', 'in', ['sale', 'sale_discount']), ('state', '!=', 'activated')])
    if modules:
        Module.click(modules, 'activate')
        from proteus import Wizard
        Wizard('ir.module.activate_upgrade').execute('upgrade')

    from trytond.modules.account.tests.tools import (
        create_chart, create_fiscalyear, create_tax, get_accounts)
    from trytond.modules.account_invoice.tests.tools import (
        create_payment_term, set_fiscalyear_invoice_sequences)
    from trytond.modules.company.tests.tools import create_company

    Party = Model.get('party.party')
    company_party = Party(name='Relais Demo SAS')
    company_party.save()
    create_company(party=company_party, currency='EUR', config=cfg)
    create_chart(config=cfg)
    fiscalyear = set_fiscalyear_invoice_sequences(create_fiscalyear(config=cfg))
    fiscalyear.click('create_period')
    accounts = get_accounts(config=cfg)

    tax = create_tax(Decimal('.20'), config=cfg)
    tax.name = tax.description = 'TVA 20 %'
    tax.save()

    Category = Model.get('product.category')
    accounting = Category(name='Ventes', accounting=True)
    accounting.account_revenue = accounts['revenue']
    accounting.account_expense = accounts['expense']
    accounting.customer_taxes.append(tax)
    accounting.save()

    term = create_payment_term(config=cfg)
    term.save()



if __name__ == '__main__':
    main(sys.argv[1], sys.argv[2])
