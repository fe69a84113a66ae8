import { Injectable, NotFoundException, type OnModuleInit } from '@nestjs/common';
import type pg from 'pg';
import { InjectPgPool } from 'nestjs-entra-pg';
import type { CreateTodo, Todo, UpdateTodo } from './todo.interface.js';

interface TodoRow {
  id: number;
  title: string;
  done: boolean;
  created_at: Date;
}

const toTodo = (row: TodoRow): Todo => ({ id: row.id, title: row.title, done: row.done, createdAt: row.created_at.toISOString() });

@Injectable()
export class TodosService implements OnModuleInit {
  constructor(@InjectPgPool() private readonly pool: pg.Pool) {}

  async onModuleInit(): Promise<void> {
    await this.pool.query(`
      CREATE TABLE IF NOT EXISTS todos (
        id serial PRIMARY KEY,
        title text NOT NULL,
        done boolean NOT NULL DEFAULT false,
        created_at timestamptz NOT NULL DEFAULT now()
      )`);
  }

  async create(input: CreateTodo): Promise<Todo> {
    const { rows } = await this.pool.query<TodoRow>('INSERT INTO todos (title) VALUES ($1) RETURNING *', [input.title]);
    return toTodo(rows[0]!);
  }

  async list(): Promise<Todo[]> {
    const { rows } = await this.pool.query<TodoRow>('SELECT * FROM todos ORDER BY id');
    return rows.map(toTodo);
  }

  async get(id: number): Promise<Todo> {
    const { rows } = await this.pool.query<TodoRow>('SELECT * FROM todos WHERE id = $1', [id]);
    if (!rows[0]) throw new NotFoundException(`Todo ${id} not found`);
    return toTodo(rows[0]);
  }

  async update(id: number, change: UpdateTodo): Promise<Todo> {
    const { rows } = await this.pool.query<TodoRow>(
      'UPDATE todos SET title = COALESCE($2, title), done = COALESCE($3, done) WHERE id = $1 RETURNING *',
      [id, change.title ?? null, change.done ?? null],
    );
    if (!rows[0]) throw new NotFoundException(`Todo ${id} not found`);
    return toTodo(rows[0]);
  }

  async remove(id: number): Promise<void> {
    const { rowCount } = await this.pool.query('DELETE FROM todos WHERE id = $1', [id]);
    if (!rowCount) throw new NotFoundException(`Todo ${id} not found`);
  }
}
