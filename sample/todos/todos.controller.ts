import { BadRequestException, Body, Controller, Delete, Get, HttpCode, Param, ParseIntPipe, Patch, Post } from '@nestjs/common';
import type { CreateTodo, Todo, UpdateTodo } from './todo.interface.js';
import { TodosService } from './todos.service.js';

@Controller('todos')
export class TodosController {
  constructor(private readonly todos: TodosService) {}

  @Post()
  create(@Body() body: unknown): Promise<Todo> {
    return this.todos.create({ title: requireTitle(body) });
  }

  @Get()
  list(): Promise<Todo[]> {
    return this.todos.list();
  }

  @Get(':id')
  get(@Param('id', ParseIntPipe) id: number): Promise<Todo> {
    return this.todos.get(id);
  }

  @Patch(':id')
  update(@Param('id', ParseIntPipe) id: number, @Body() body: unknown): Promise<Todo> {
    return this.todos.update(id, parseUpdate(body));
  }

  @Delete(':id')
  @HttpCode(204)
  remove(@Param('id', ParseIntPipe) id: number): Promise<void> {
    return this.todos.remove(id);
  }
}

function requireTitle(body: unknown): string {
  const title = (body as Partial<CreateTodo> | undefined)?.title;
  if (typeof title !== 'string' || title.trim() === '') throw new BadRequestException('title must be a non-empty string');
  return title.trim();
}

function parseUpdate(body: unknown): UpdateTodo {
  const { title, done } = (body ?? {}) as Record<string, unknown>;
  if (title !== undefined && (typeof title !== 'string' || title.trim() === '')) {
    throw new BadRequestException('title must be a non-empty string');
  }
  if (done !== undefined && typeof done !== 'boolean') throw new BadRequestException('done must be true or false');
  if (title === undefined && done === undefined) throw new BadRequestException('give title or done');
  return { title: title?.trim(), done };
}
