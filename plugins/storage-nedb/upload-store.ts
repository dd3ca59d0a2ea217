import type { UploadRecord, UploadStore } from '../../contracts/storage.js';
import type { Collection } from './datastore.js';

type UploadDoc = Omit<UploadRecord, 'name'> & { _id: string };

const toDoc = ({ name, ...rest }: UploadRecord): UploadDoc => ({ ...rest, _id: name });
const fromDoc = ({ _id, ...rest }: UploadDoc): UploadRecord => ({ name: _id, ...rest });

export class NedbUploadStore implements UploadStore {
  private constructor(private readonly collection: Collection) {}

  static async open(collection: Collection): Promise<NedbUploadStore> {
    await collection.ensureIndex({ fieldName: 'createdAt' });
    return new NedbUploadStore(collection);
  }

  async insert(upload: UploadRecord): Promise<void> {
    await this.collection.insert(toDoc(upload));
  }

  async get(name: string): Promise<UploadRecord | undefined> {
    const doc = (await this.collection.findOne({ _id: name })) as UploadDoc | null;
    return doc ? fromDoc(doc) : undefined;
  }

  async markUsed(name: string, generationId: string): Promise<void> {
    await this.collection.update({ _id: name }, { $addToSet: { usedBy: generationId } });
  }

  async unmarkUsed(name: string, generationId: string): Promise<void> {
    await this.collection.update({ _id: name }, { $pull: { usedBy: generationId } });
  }

  async expired(before: string): Promise<UploadRecord[]> {
    // The createdAt index bounds the scan to old uploads; only unused ones expire.
    const docs = (await this.collection.find({ createdAt: { $lt: before }, usedBy: { $size: 0 } })) as UploadDoc[];
    return docs.map(fromDoc).sort((a, b) => (a.createdAt < b.createdAt ? -1 : a.createdAt > b.createdAt ? 1 : 0));
  }

  async delete(name: string): Promise<void> {
    await this.collection.remove({ _id: name }, { multi: false });
  }
}
