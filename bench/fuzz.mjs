export async function benchFuzz() {
  return {};
}
