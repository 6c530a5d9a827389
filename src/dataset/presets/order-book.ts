import type { DatasetSpec } from '../types'

/**
 * The order book (seed 003): `carteira_principal` mirrored as a whole, its
 * balances computed in the database at merge time from what was invoiced
 * (faturamento_produto, joined on origem = num_pedido) and what is being
 * picked (separacao): one GROUP BY per source table per sync.
 */
export const orderBook: DatasetSpec = {
  name: 'order-book',
  table: 'carteira_principal',
  scope: [],
  mirror: 'whole-table',
  columns: [
    { name: 'num_pedido', type: 'text', nullable: false },
    { name: 'cod_produto', type: 'text', nullable: false },
    { name: 'cliente', type: 'text' },
    { name: 'qtd_produto_pedido', type: 'numeric(15,3)', nullable: false },
    { name: 'preco_produto_pedido', type: 'numeric(15,2)' },
  ],
  key: ['num_pedido', 'cod_produto'],
  derived: [
    { name: 'qtd_faturada', type: 'numeric(15,3)', aggregate: { fn: 'sum', table: 'faturamento_produto', column: 'qtd_faturada', on: { origem: 'num_pedido', cod_produto: 'cod_produto' }, default: 0 } },
    { name: 'qtd_em_separacao', type: 'numeric(15,3)', aggregate: { fn: 'sum', table: 'separacao', column: 'qtd_em_separacao', on: { num_pedido: 'num_pedido', cod_produto: 'cod_produto' }, default: 0 } },
    { name: 'qtd_saldo', type: 'numeric(15,3)', arithmetic: { op: '-', args: ['qtd_produto_pedido', 'qtd_faturada', 'qtd_em_separacao'] } },
  ],
  sources: [
    { table: 'faturamento_produto', columns: [{ name: 'origem', type: 'text' }, { name: 'cod_produto', type: 'text' }, { name: 'qtd_faturada', type: 'numeric(15,3)' }] },
    { table: 'separacao', columns: [{ name: 'num_pedido', type: 'text' }, { name: 'cod_produto', type: 'text' }, { name: 'qtd_em_separacao', type: 'numeric(15,3)' }] },
  ],
  mode: 'mirror',
}
