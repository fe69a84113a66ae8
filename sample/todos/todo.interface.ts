export interface Todo {
  id: number;
  title: string;
  done: boolean;
  createdAt: string;
}

export interface CreateTodo {
  title: string;
}

export interface UpdateTodo {
  title?: string;
  done?: boolean;
}
