/**
 * The JSON the console reads, typed from the server's own schemas (type-only imports: nothing of the
 * server ends up in the bundle).
 */
import type { ChatsResponse } from "../../groups/model.ts";
import type { ConsoleUsersResponse, OverviewResponse, RecentErrorsResponse } from "../model.ts";

export type Overview = typeof OverviewResponse.static;
export type Series = Overview["rates"]["events"];
export type UsersResponse = typeof ConsoleUsersResponse.static;
export type ConsoleUser = UsersResponse["users"][number];
export type Chat = (typeof ChatsResponse.static)["chats"][number];
export type RecentEntry = (typeof RecentErrorsResponse.static)["entries"][number];
