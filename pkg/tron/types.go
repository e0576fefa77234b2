package tron

// The types below mirror the JSON of a java-tron full node's HTTP API
// (/wallet/getblockbynum, /wallet/gettransactioninfobyblocknum, …) without
// visible=true, so addresses are hex. The node omits fields holding default
// values (0, false, ""), and so do these types when marshalled, which is what
// the simulator relies on to answer like a real node.

// Block is a getblockbynum / getnowblock answer. A block with no
// transactions has no "transactions" key.
type Block struct {
	BlockID      string        `json:"blockID,omitempty"`
	BlockHeader  BlockHeader   `json:"block_header"`
	Transactions []Transaction `json:"transactions,omitempty"`
}

// BlockHeader is a block's header.
type BlockHeader struct {
	RawData          BlockHeaderRaw `json:"raw_data"`
	WitnessSignature string         `json:"witness_signature,omitempty"`
}

// BlockHeaderRaw is the signed part of a header; its protobuf encoding
// hashes to the block id.
type BlockHeaderRaw struct {
	Number           int64  `json:"number,omitempty"`
	TxTrieRoot       string `json:"txTrieRoot,omitempty"`
	WitnessAddress   string `json:"witness_address,omitempty"`
	ParentHash       string `json:"parentHash,omitempty"`
	Version          int32  `json:"version,omitempty"`
	Timestamp        int64  `json:"timestamp,omitempty"`
	AccountStateRoot string `json:"accountStateRoot,omitempty"`
	WitnessID        int64  `json:"witness_id,omitempty"`
}

// Transaction is one transaction of a block.
type Transaction struct {
	Ret        []TxRet  `json:"ret,omitempty"`
	Signature  []string `json:"signature,omitempty"`
	TxID       string   `json:"txID"`
	RawData    TxRaw    `json:"raw_data"`
	RawDataHex string   `json:"raw_data_hex"`
}

// TxRet is the per-contract result the block carries.
type TxRet struct {
	ContractRet string `json:"contractRet,omitempty"`
	Fee         int64  `json:"fee,omitempty"`
}

// TxRaw is the signed part of a transaction.
type TxRaw struct {
	Contract      []Contract `json:"contract"`
	RefBlockBytes string     `json:"ref_block_bytes,omitempty"`
	RefBlockHash  string     `json:"ref_block_hash,omitempty"`
	Expiration    int64      `json:"expiration,omitempty"`
	FeeLimit      int64      `json:"fee_limit,omitempty"`
	Timestamp     int64      `json:"timestamp,omitempty"`
	Data          string     `json:"data,omitempty"`
}

// Contract is one contract (operation) of a transaction.
type Contract struct {
	Parameter    ContractParameter `json:"parameter"`
	Type         string            `json:"type"`
	PermissionID int32             `json:"Permission_id,omitempty"`
}

// ContractParameter wraps a contract's value with its protobuf type URL.
type ContractParameter struct {
	Value   ContractValue `json:"value"`
	TypeURL string        `json:"type_url"`
}

// ContractValue is the union of the fields of every contract type the
// decoder reads; which ones are set depends on Contract.Type.
type ContractValue struct {
	OwnerAddress    string `json:"owner_address,omitempty"`
	ToAddress       string `json:"to_address,omitempty"`
	Amount          int64  `json:"amount,omitempty"`
	AssetName       string `json:"asset_name,omitempty"`
	ContractAddress string `json:"contract_address,omitempty"`
	Data            string `json:"data,omitempty"`
	CallValue       int64  `json:"call_value,omitempty"`
	CallTokenValue  int64  `json:"call_token_value,omitempty"`
	TokenID         int64  `json:"token_id,omitempty"`
	// Stake (freeze) v1 and v2.
	FrozenBalance   int64  `json:"frozen_balance,omitempty"`
	FrozenDuration  int64  `json:"frozen_duration,omitempty"`
	Resource        string `json:"resource,omitempty"`
	ReceiverAddress string `json:"receiver_address,omitempty"`
	UnfreezeBalance int64  `json:"unfreeze_balance,omitempty"`
	// Delegation.
	Balance    int64 `json:"balance,omitempty"`
	Lock       bool  `json:"lock,omitempty"`
	LockPeriod int64 `json:"lock_period,omitempty"`
	// Votes.
	Votes []VoteWitness `json:"votes,omitempty"`
	// AccountCreateContract.
	AccountAddress string `json:"account_address,omitempty"`
	Type           int32  `json:"type,omitempty"`
	// CreateSmartContract.
	NewContract *NewContract `json:"new_contract,omitempty"`
	// AccountPermissionUpdateContract keeps its permissions opaque: the
	// event only says that the owner changed them.
}

// VoteWitness is one vote of a VoteWitnessContract.
type VoteWitness struct {
	VoteAddress string `json:"vote_address"`
	VoteCount   int64  `json:"vote_count"`
}

// NewContract is the contract a CreateSmartContract deploys.
type NewContract struct {
	OriginAddress   string `json:"origin_address,omitempty"`
	ContractAddress string `json:"contract_address,omitempty"`
	Name            string `json:"name,omitempty"`
	CallValue       int64  `json:"call_value,omitempty"`
}

// TxInfo is a gettransactioninfobyid answer, and one element of a
// gettransactioninfobyblocknum array.
type TxInfo struct {
	ID                   string         `json:"id"`
	Fee                  int64          `json:"fee,omitempty"`
	BlockNumber          int64          `json:"blockNumber,omitempty"`
	BlockTimeStamp       int64          `json:"blockTimeStamp,omitempty"`
	ContractResult       []string       `json:"contractResult,omitempty"`
	ContractAddress      string         `json:"contract_address,omitempty"`
	Receipt              Receipt        `json:"receipt"`
	Log                  []Log          `json:"log,omitempty"`
	Result               string         `json:"result,omitempty"`
	ResMessage           string         `json:"resMessage,omitempty"`
	WithdrawAmount       int64          `json:"withdraw_amount,omitempty"`
	UnfreezeAmount       int64          `json:"unfreeze_amount,omitempty"`
	WithdrawExpireAmount int64          `json:"withdraw_expire_amount,omitempty"`
	InternalTransactions []InternalTx   `json:"internal_transactions,omitempty"`
	CancelUnfreezeV2     []CancelAmount `json:"cancel_unfreezeV2_amount,omitempty"`
}

// Receipt is the resource receipt of a transaction.
type Receipt struct {
	EnergyUsage        int64  `json:"energy_usage,omitempty"`
	EnergyFee          int64  `json:"energy_fee,omitempty"`
	OriginEnergyUsage  int64  `json:"origin_energy_usage,omitempty"`
	EnergyUsageTotal   int64  `json:"energy_usage_total,omitempty"`
	NetUsage           int64  `json:"net_usage,omitempty"`
	NetFee             int64  `json:"net_fee,omitempty"`
	Result             string `json:"result,omitempty"`
	EnergyPenaltyTotal int64  `json:"energy_penalty_total,omitempty"`
}

// Log is an EVM log; its address is 20 bytes, without the 0x41 prefix.
type Log struct {
	Address string   `json:"address"`
	Topics  []string `json:"topics,omitempty"`
	Data    string   `json:"data,omitempty"`
}

// InternalTx is a call made by a contract during a transaction.
type InternalTx struct {
	Hash              string          `json:"hash,omitempty"`
	CallerAddress     string          `json:"caller_address,omitempty"`
	TransferToAddress string          `json:"transferTo_address,omitempty"`
	CallValueInfo     []CallValueInfo `json:"callValueInfo,omitempty"`
	Note              string          `json:"note,omitempty"`
	Rejected          bool            `json:"rejected,omitempty"`
}

// CallValueInfo is a value an internal transaction moved.
type CallValueInfo struct {
	CallValue int64  `json:"callValue,omitempty"`
	TokenID   string `json:"tokenId,omitempty"`
}

// CancelAmount is one resource amount returned by CancelAllUnfreezeV2.
type CancelAmount struct {
	Key   string `json:"key"`
	Value int64  `json:"value"`
}

// NodeInfo is the part of /wallet/getnodeinfo Mongotron reads.
type NodeInfo struct {
	BeginSyncNum       int64          `json:"beginSyncNum,omitempty"`
	Block              string         `json:"block,omitempty"`
	SolidityBlock      string         `json:"solidityBlock,omitempty"`
	ActiveConnectCount int            `json:"activeConnectCount,omitempty"`
	ConfigNodeInfo     map[string]any `json:"configNodeInfo,omitempty"`
	MachineInfo        map[string]any `json:"machineInfo,omitempty"`
}
