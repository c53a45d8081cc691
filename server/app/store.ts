import { KEYS } from "../shared/state/keys.ts";
import type { RedisClient } from "../shared/state/redis.ts";

export const RECENT_LENGTH = 5;
export const QUEUE_LENGTH = 20;

export interface QueuedImage {
  type: string;
  data: string;
}

/** The sample app's data in Redis: expiring messages, recent paths, the image queue. */
export class AppStore {
  constructor(private readonly redis: RedisClient) {}

  async setMessage(key: string, value: string, ttlSeconds: number): Promise<void> {
    await this.redis.set(KEYS.appMessage(key), value, "EX", ttlSeconds);
  }

  getMessage(key: string): Promise<string | null> {
    return this.redis.get(KEYS.appMessage(key));
  }

  async recordVisit(path: string): Promise<void> {
    await this.redis
      .multi()
      .lpush(KEYS.appRecent, path)
      .ltrim(KEYS.appRecent, 0, RECENT_LENGTH - 1)
      .exec();
  }

  recent(): Promise<string[]> {
    return this.redis.lrange(KEYS.appRecent, 0, RECENT_LENGTH - 1);
  }

  /** Queues an image; the oldest fall off past QUEUE_LENGTH so the queue cannot fill Redis. */
  async enqueue(image: QueuedImage): Promise<number> {
    const result = await this.redis
      .multi()
      .lpush(KEYS.appUploads, JSON.stringify(image))
      .ltrim(KEYS.appUploads, 0, QUEUE_LENGTH - 1)
      .llen(KEYS.appUploads)
      .exec();
    return Number(result?.[2]?.[1] ?? 0);
  }

  /** Takes every queued image, oldest first, and empties the queue. */
  async drain(): Promise<QueuedImage[]> {
    const result = await this.redis
      .multi()
      .lrange(KEYS.appUploads, 0, -1)
      .del(KEYS.appUploads)
      .exec();
    const items = (result?.[0]?.[1] ?? []) as string[];
    return items.reverse().flatMap((item) => {
      try {
        return [JSON.parse(item) as QueuedImage];
      } catch {
        return [];
      }
    });
  }
}
